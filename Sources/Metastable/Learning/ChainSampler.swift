/// Single steps of a chain, one at a time, from the walk kernel's alias tables: for
/// learners and search, which look at every step (the walk kernel only at hits).
struct ChainSampler {
    let graph: WalkGraph

    init(_ chain: Chain) throws(WalkError) {
        graph = try WalkGraph(chain, hugePages: false)
    }

    var stateCount: Int { graph.stateCount }

    /// The next state after `x`, drawn with `random`.
    func step(from x: Int, using random: inout WalkRandom) -> Int {
        let view = graph.view
        let (slot, coin) = view.draw(from: UInt32(x), random.next())
        let y = view.records[slot].select(coin: coin)
        guard y & AliasRecord.uniformBit != 0, let clusters = graph.clusters else { return Int(y) }
        // "Uniform over my cluster": a second draw picks the member.
        let members = clusters.members(of: Int(y & ~AliasRecord.uniformBit))
        return Int(members[members.startIndex + random.next(below: members.count)])
    }
}
