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
