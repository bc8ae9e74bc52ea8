/// Specs compiled into the binary, so `metastable run` works with no files at hand.
/// `experiments/quickstart.yaml` holds the same text (a test keeps the two equal).
public enum BuiltinExperiments {
    public static let quickstart = """
        # The built-in default of `metastable run`: hitting times of small metastable chains,
        # Monte Carlo next to the exact solver (and the closed form where one exists).
        name: quickstart
        description: >-
          Five clusters of 32 states joined in a chain by one sparse edge each. The expected hitting
          time of the last cluster grows like (K-1)·M/ε; the uniform kernel has a closed form.
        chain:
          clusters: 5
          cluster_size: 32
          kernel: uniform
          topology: chain
          sources: 1
          epsilon: 0.01
          seed: 1
        start: 0
        target: {cluster: last}
        walks: 10000
        seed: 2026
        grid:
          kernel: [uniform, permutations(4)]
          epsilon: [0.01, 0.001]

        """
}
