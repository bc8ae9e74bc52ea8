import ArgumentParser
import Foundation
import Logging
import Metastable
import MetastableCluster

/// Log options shared by the cluster commands.
struct LogOptions: ParsableArguments {
    @Option(name: .long, help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "info"

    var level: Logger.Level {
        get throws { try Self.parse(logLevel) }
    }

    static func parse(_ text: String) throws -> Logger.Level {
        guard let level = Logger.Level(rawValue: text) else {
            throw ValidationError("--log-level: '\(text)' is not one of trace, debug, info, notice, warning, error, critical")
        }
        return level
    }
}

struct CoordinatorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coordinator",
        abstract: "Run an experiment on workers that connect over ZeroMQ, and write its results.",
        discussion: """
            A non-loopback --bind needs CURVE (--curve-secret-key and --authorized-keys; see \
            `metastable keygen`) unless --insecure is given. With --resume, a run killed midway \
            continues from its checkpoint and gives the same results.
            """
    )

    @Argument(help: "A YAML experiment spec, or the name of a built-in one (quickstart).")
    var spec: String

    @Option(name: .long, help: "Endpoint to bind, e.g. tcp://0.0.0.0:5555 or tcp://127.0.0.1:5555.")
    var bind: String

    @Option(name: .long, help: "Wait for this many workers before handing out work.")
    var minWorkers: Int = 1

    @Option(name: .long, help: "Output directory. Default: results/<experiment name>.")
    var out: String?

    @Option(name: .long, help: "Checkpoint file. Default: <out>/checkpoint.json.")
    var checkpoint: String?

    @Flag(name: .long, help: "Continue from the checkpoint of an earlier run of the same spec.")
    var resume = false

    @Option(name: .long, help: "Override the spec's seed.")
    var seed: UInt64?

    @Option(name: .long, help: "This coordinator's CURVE secret key file (from keygen).")
    var curveSecretKey: String?

    @Option(name: .long, help: "Directory of the workers' public keys (*.pub) to admit.")
    var authorizedKeys: String?

    @Flag(name: .long, help: "Allow a non-loopback bind without CURVE.")
    var insecure = false

    @Option(name: .long, help: "Heartbeat interval in milliseconds.")
    var heartbeatMs: Int = 1000

    @Option(name: .long, help: "Checkpoint at most this often (milliseconds) while results arrive, and at each grid point's end.")
    var checkpointMs: Int = 2000

    @OptionGroup var log: LogOptions

    func validate() throws {
        guard checkpointMs >= 1 else { throw ValidationError("--checkpoint-ms must be at least 1") }
        guard minWorkers >= 1 else { throw ValidationError("--min-workers must be at least 1") }
        guard heartbeatMs >= 10 else { throw ValidationError("--heartbeat-ms must be at least 10") }
        guard (curveSecretKey == nil) == (authorizedKeys == nil) else {
            throw ValidationError("--curve-secret-key and --authorized-keys go together")
        }
    }

    func run() throws {
        let (plan, text) = try SpecSource.load(spec)
        let seed = try SpecSource.seed(seed, for: plan)
        ClusterLogging.bootstrap(role: "coordinator", runID: nil, level: try log.level, json: nil)
        var options = CoordinatorOptions(bind: bind, curve: try curveKeys(), insecure: insecure)
        options.config.minWorkers = minWorkers
        options.config.heartbeatInterval = UInt64(heartbeatMs) * 1_000_000
        options.config.checkpointInterval = UInt64(checkpointMs) * 1_000_000
        let directory = URL(fileURLWithPath: out ?? "results/\(plan.name)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let checkpointPath = checkpoint ?? directory.appendingPathComponent("checkpoint.json").path
        let restored = resume ? try ClusterExecutor.loadCheckpoint(at: checkpointPath, specYAML: text, seed: seed) : nil
        if !resume, FileManager.default.fileExists(atPath: checkpointPath) {
            try FileManager.default.removeItem(atPath: checkpointPath)
        }
        let executor = try ClusterExecutor(
            specYAML: text, seed: seed, options: options, checkpointPath: checkpointPath, restoring: restored)
        let progress = ProgressReporter(style: isatty(2) != 0 ? .bar : .silent)
        try RunCommand.run(plan.applyingRunSeed(seed), on: executor, progress: progress, to: directory) {
            try executor.coordinator.finish(reason: "run complete")
        }
    }

    private func curveKeys() throws -> CurveServerKeys? {
        guard let curveSecretKey, let authorizedKeys else { return nil }
        let pair = try CurveKeyFiles.readSecret(curveSecretKey)
        return CurveServerKeys(
            secretKey: pair.secretKey, publicKey: pair.publicKey, authorizedKeys: try CurveKeyFiles.readAuthorized(authorizedKeys))
    }
}

struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Connect to a coordinator and run the batches of walks it leases, until it says stop."
    )

    @Option(name: .long, help: "The coordinator's endpoint, e.g. tcp://10.0.0.1:5555.")
    var connect: String

    @Option(name: .long, help: "Compute threads. Default: the core count.")
    var threads: Int?

    @Option(name: .long, help: "Leases held at once (flow-control credits). Default: twice the threads.")
    var credits: Int?

    @Option(name: .long, help: """
        Walks each thread interleaves (1 to \(WalkTask.maxWalkers)). Default: by graph size, 64 on graphs of \
        32 MiB or more of walk data (out of cache), 32 otherwise. Results do not depend on it.
        """)
    var walkersPerThread: Int?

    @Option(name: .long, help: "This worker's CURVE secret key file (from keygen).")
    var curveSecretKey: String?

    @Option(name: .long, help: "The coordinator's public key file.")
    var coordinatorKey: String?

    @Option(name: .long, help: "Heartbeat interval in milliseconds.")
    var heartbeatMs: Int = 1000

    @Flag(name: .long, help: "Exit when the process that started this one exits (for local workers of `run`).")
    var exitWithParent = false

    @OptionGroup var log: LogOptions

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1, got \(threads)") }
        if let credits, credits < 1 { throw ValidationError("--credits must be at least 1, got \(credits)") }
        try WalkTask.validate(walkersPerThread: walkersPerThread)
        guard (curveSecretKey == nil) == (coordinatorKey == nil) else {
            throw ValidationError("--curve-secret-key and --coordinator-key go together")
        }
        guard heartbeatMs >= 10 else { throw ValidationError("--heartbeat-ms must be at least 10") }
    }

    func run() throws {
        ClusterLogging.bootstrap(role: "worker", runID: nil, level: try log.level, json: nil)
        var options = WorkerOptions(endpoint: connect, threads: threads ?? ProcessInfo.processInfo.activeProcessorCount)
        options.softwareVersion = MetastableCommand.configuration.version
        options.heartbeatInterval = .milliseconds(heartbeatMs)
        options.credits = credits
        options.walkersPerThread = walkersPerThread
        if let curveSecretKey, let coordinatorKey {
            let pair = try CurveKeyFiles.readSecret(curveSecretKey)
            options.curve = WorkerOptions.Curve(
                secretKey: pair.secretKey, publicKey: pair.publicKey, serverKey: try CurveKeyFiles.readKey(coordinatorKey))
        }
        let worker = Worker(options: options)
        if exitWithParent {
            // A local worker of `metastable run` must not outlive it, even if it was killed.
            let parent = getppid()
            let watchdog = Thread {
                while getppid() == parent { usleep(200_000) }
                worker.stop()
            }
            watchdog.start()
        }
        try worker.run()
    }
}

struct KeygenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Make a CURVE key pair: DIR/NAME.key (secret, mode 0600) and DIR/NAME.pub."
    )

    @Option(name: .long, help: "Directory for the key files.")
    var out: String

    @Option(name: .long, help: "Base name of the key files.")
    var name: String = "metastable"

    func run() throws {
        let pair = try CurveKeyFiles.generate(in: out, name: name)
        emit("wrote \(out)/\(name).key and \(out)/\(name).pub (public key \(pair.publicKey.z85))")
    }
}
