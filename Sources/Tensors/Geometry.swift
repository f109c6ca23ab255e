/// Keras' two padding modes.
public enum Padding: String, Codable, Sendable {
    case valid, same
}

/// Explicit zero (or, for max pooling, minus-infinity) padding on each side of the spatial axes.
public struct Padding2D: Hashable, Sendable {
    public var top, bottom, left, right: Int

    public init(top: Int, bottom: Int, left: Int, right: Int) {
        (self.top, self.bottom, self.left, self.right) = (top, bottom, left, right)
    }

    public static let zero = Padding2D(top: 0, bottom: 0, left: 0, right: 0)
}

/// A sliding window over NHWC input: the shape shared by convolution and pooling.
public struct WindowGeometry: Hashable, Sendable {
    public var kernelHeight, kernelWidth: Int
    public var strideHeight, strideWidth: Int
    public var padding: Padding2D

    public init(kernel: (Int, Int), strides: (Int, Int), padding: Padding2D) {
        (kernelHeight, kernelWidth) = kernel
        (strideHeight, strideWidth) = strides
        self.padding = padding
    }

    /// Keras/TensorFlow semantics: `same` pads `max((ceil(n/s)-1)*s + k - n, 0)` in total per axis,
    /// the smaller half before and the extra element after.
    public init(kernel: (Int, Int), strides: (Int, Int), padding: Padding, inputHeight: Int, inputWidth: Int) {
        func pads(_ n: Int, _ k: Int, _ s: Int) -> (Int, Int) {
            guard padding == .same else { return (0, 0) }
            let total = max(((n + s - 1) / s - 1) * s + k - n, 0)
            return (total / 2, total - total / 2)
        }
        let (top, bottom) = pads(inputHeight, kernel.0, strides.0)
        let (left, right) = pads(inputWidth, kernel.1, strides.1)
        self.init(kernel: kernel, strides: strides,
                  padding: Padding2D(top: top, bottom: bottom, left: left, right: right))
    }

    public func outputHeight(_ inputHeight: Int) -> Int {
        (inputHeight + padding.top + padding.bottom - kernelHeight) / strideHeight + 1
    }

    public func outputWidth(_ inputWidth: Int) -> Int {
        (inputWidth + padding.left + padding.right - kernelWidth) / strideWidth + 1
    }
}

public enum PoolKind: String, Hashable, Sendable {
    case max, average
}
