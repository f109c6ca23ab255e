import Layers

/// The order Keras gives `model.layers` for a functional graph (keras-h5-format.md §5.2; Keras 3's
/// `ops/function.py::map_graph`, same in tf_keras): a depth-first search from the output visits each layer's inputs
/// in call order and numbers layers when first reached; a layer's depth is the longest path from it to the output;
/// layers are sorted by decreasing depth, ties by that number. Keras files list layers (`layer_names`) and pair
/// weights in this order, which is not the creation order: in ResNet's first block of a stage the shortcut's
/// `_0_conv` comes after `_2_relu`. Layers that do not reach the output are not part of the Keras model.
public func kerasLayerOrder(_ graph: Graph) -> [Layer] {
    let nodes = graph.nodes
    var visitNumber = [Int?](repeating: nil, count: nodes.count)
    var postOrder: [Int] = []  // inputs before the layers that consume them
    // Iterative DFS: DenseNet201 is ~700 layers deep, too deep to recurse safely on a secondary thread's stack.
    var stack: [(node: Int, nextInput: Int)] = []
    func discover(_ node: Int) {
        visitNumber[node] = postOrder.count + stack.count
        stack.append((node, 0))
    }
    discover(nodes.count - 1)
    while let (node, nextInput) = stack.last {
        let inputs = nodes[node].inputs
        if nextInput < inputs.count {
            stack[stack.count - 1].nextInput += 1
            if visitNumber[inputs[nextInput]] == nil { discover(inputs[nextInput]) }
        } else {
            stack.removeLast()
            postOrder.append(node)
        }
    }
    var depth = [Int](repeating: 0, count: nodes.count)
    for node in postOrder.reversed() {
        for input in nodes[node].inputs { depth[input] = max(depth[input], depth[node] + 1) }
    }
    return postOrder.sorted { (-depth[$0], visitNumber[$0]!) < (-depth[$1], visitNumber[$1]!) }.map { nodes[$0].layer }
}
