import Foundation
import Tensors
import XCTest
@_exported import TestSupport

/// Runs Tests/Python/training_referee.py with the referee interpreter.
func runReferee(_ arguments: [String]) throws { try runPython("training_referee.py", arguments) }

func randomInput(_ shape: [Int], seed: UInt64 = 11) -> Tensor {
    var state = seed
    let values = (0..<shape.reduce(1, *)).map { _ -> Float in
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Float(state >> 40) / Float(1 << 24) * 2 - 1
    }
    return Tensor(shape: shape, scalars: values)
}

/// |a - b| / |b - initial| over the weights `initial` has (those `including` accepts): how far apart two runs'
/// weights are, relative to b's update.
func updateDifference(_ a: [String: Tensor], _ b: [String: Tensor], from initial: [String: Tensor],
                      including: (String) -> Bool = { _ in true }) -> Double {
    var difference = 0.0, norm = 0.0
    for (path, start) in initial where including(path) {
        guard let x = a[path], let y = b[path] else { continue }
        for (mine, (theirs, begin)) in zip(x.scalars, zip(y.scalars, start.scalars)) {
            difference += Double(mine - theirs) * Double(mine - theirs)
            norm += Double(theirs - begin) * Double(theirs - begin)
        }
    }
    return (difference / norm).squareRoot()
}
