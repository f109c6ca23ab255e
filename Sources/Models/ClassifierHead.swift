import Layers

/// The report's classifier head on top of a backbone: GlobalAveragePooling2D -> Dropout -> optional
/// BatchNormalization (Keras' default epsilon 1e-3) -> Dense softmax.
public struct HeadOptions: Codable, Equatable, Sendable {
    public var classes: Int
    public var dropout: Float
    public var batchNorm: Bool

    public init(classes: Int, dropout: Float = 0.5, batchNorm: Bool = true) {
        (self.classes, self.dropout, self.batchNorm) = (classes, dropout, batchNorm)
    }
}

func classifierHead(_ features: SymbolicTensor, _ options: HeadOptions) throws -> SymbolicTensor {
    var x = try GlobalAveragePooling2D(name: "avg_pool")(features)
    x = try Dropout(options.dropout, name: "dropout")(x)
    if options.batchNorm { x = try BatchNormalization(name: "bn_head")(x) }
    return try Dense(options.classes, activation: .softmax, name: "predictions")(x)
}
