import Foundation
import Images
import Layers
import Models
import OneDNN

/// Everything a run needs, read from `config.json`. Every key has a default except `data.root`; unknown keys
/// are rejected with a suggestion. `batch_size` is the *global* batch, split over however many ranks run.
public struct TrainingConfig: Codable, Equatable {
    public var runName = "run"
    public var outputDirectory = "Checkpoints"
    public var model = ModelOptions()
    public var data: DataOptions
    public var training = TrainingOptions()
    public var callbacks = CallbackOptions()
    public var distributed = DistributedOptions()
    public var compute = ComputeOptions()

    enum CodingKeys: String, CodingKey, CaseIterable {
        case runName = "run_name", outputDirectory = "output_dir", model, data, training, callbacks, distributed, compute
    }

    public init(data: DataOptions) { self.data = data }

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        runName = try c.decodeIfPresent(String.self, forKey: .runName) ?? runName
        outputDirectory = try c.decodeIfPresent(String.self, forKey: .outputDirectory) ?? outputDirectory
        model = try c.decodeIfPresent(ModelOptions.self, forKey: .model) ?? model
        data = try c.decode(DataOptions.self, forKey: .data)
        training = try c.decodeIfPresent(TrainingOptions.self, forKey: .training) ?? training
        callbacks = try c.decodeIfPresent(CallbackOptions.self, forKey: .callbacks) ?? callbacks
        distributed = try c.decodeIfPresent(DistributedOptions.self, forKey: .distributed) ?? distributed
        compute = try c.decodeIfPresent(ComputeOptions.self, forKey: .compute) ?? compute
    }

    /// The folder of this run's checkpoints, config, split and history.
    public var runDirectory: URL { URL(fileURLWithPath: outputDirectory).appendingPathComponent(runName) }
}

public struct ModelOptions: Codable, Equatable {
    public var architecture = Architecture.resnet50
    /// Input height and width.
    public var inputSize = [224, 224]
    public var classes = 2
    public var dropout: Float = 0.5
    public var headBatchNorm = true
    /// A Keras notop weights file (e.g. resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5) for the backbone.
    public var pretrained: String?
    /// Train only the head for this many epochs, then fine-tune everything (the usual transfer-learning recipe).
    public var freezeBackboneEpochs = 0
    /// The learning rate from the unfreezing on (Keras' recipe recompiles with a lower one, e.g. 1e-5); nil keeps
    /// the current rate. Either way the optimizer restarts then, as a Keras recompile does.
    public var fineTuneLearningRate: Float?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case architecture, inputSize = "input_size", classes, dropout, headBatchNorm = "head_batch_norm", pretrained
        case freezeBackboneEpochs = "freeze_backbone_epochs", fineTuneLearningRate = "fine_tune_learning_rate"
    }

    public init() {}

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        architecture = try c.decodeChoice(Architecture.self, forKey: .architecture) ?? architecture
        inputSize = try c.decodeIfPresent([Int].self, forKey: .inputSize) ?? inputSize
        classes = try c.decodeIfPresent(Int.self, forKey: .classes) ?? classes
        dropout = try c.decodeIfPresent(Float.self, forKey: .dropout) ?? dropout
        headBatchNorm = try c.decodeIfPresent(Bool.self, forKey: .headBatchNorm) ?? headBatchNorm
        pretrained = try c.decodeIfPresent(String.self, forKey: .pretrained)
        freezeBackboneEpochs = try c.decodeIfPresent(Int.self, forKey: .freezeBackboneEpochs) ?? freezeBackboneEpochs
        fineTuneLearningRate = try c.decodeIfPresent(Float.self, forKey: .fineTuneLearningRate)
    }
}

public struct DataOptions: Codable, Equatable {
    public enum SplitMode: String, Codable, Equatable, CaseIterable {
        /// stratified by class, no patient in two splits (the default: image splits leak patients)
        case patient
        /// stratified by class, images assigned independently (leaky; reported as such)
        case image
        /// BreakHis' official fold file
        case fold
    }

    /// A folder of class folders (`<class>/*.png`), of split folders (`{train,validation,test}/<class>/*.png`, used
    /// as they are) or the original BreakHis tree; which one is recognised from its contents.
    public var root: String
    /// Keep only this magnification (40, 100, 200 or 400; BreakHis file names); all when absent.
    public var magnification: Int?
    public var split = SplitMode.patient
    /// train, validation, test
    public var splitFractions: [Double] = [0.7, 0.15, 0.15]
    public var foldFile: String?
    public var augmentation = Augmentation.none
    public var resize = ResizeMethod.bilinear
    /// "balanced" (sklearn/Keras style n / (classes * count)), "none", or explicit per-class weights.
    public var classWeight = ClassWeightOption.none
    public var balancedSampling = false
    public var cacheMegabytes = 2048
    public var loaderThreads = 2
    public var skipUnparseable = false

    enum CodingKeys: String, CodingKey, CaseIterable {
        case root, magnification, split, splitFractions = "split_fractions", foldFile = "fold_file"
        case augmentation, resize, classWeight = "class_weight", balancedSampling = "balanced_sampling"
        case cacheMegabytes = "cache_megabytes", loaderThreads = "loader_threads", skipUnparseable = "skip_unparseable"
    }

    public init(root: String) { self.root = root }

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        root = try c.decode(String.self, forKey: .root)
        magnification = try c.decodeIfPresent(Int.self, forKey: .magnification)
        split = try c.decodeChoice(SplitMode.self, forKey: .split) ?? split
        splitFractions = try c.decodeIfPresent([Double].self, forKey: .splitFractions) ?? splitFractions
        foldFile = try c.decodeIfPresent(String.self, forKey: .foldFile)
        augmentation = try c.decodeIfPresent(Augmentation.self, forKey: .augmentation) ?? augmentation
        resize = try c.decodeChoice(ResizeMethod.self, forKey: .resize) ?? resize
        classWeight = try c.decodeIfPresent(ClassWeightOption.self, forKey: .classWeight) ?? classWeight
        balancedSampling = try c.decodeIfPresent(Bool.self, forKey: .balancedSampling) ?? balancedSampling
        cacheMegabytes = try c.decodeIfPresent(Int.self, forKey: .cacheMegabytes) ?? cacheMegabytes
        loaderThreads = try c.decodeIfPresent(Int.self, forKey: .loaderThreads) ?? loaderThreads
        skipUnparseable = try c.decodeIfPresent(Bool.self, forKey: .skipUnparseable) ?? skipUnparseable
    }
}

/// `class_weight`: "balanced", "none", or one weight per class.
public enum ClassWeightOption: Codable, Equatable {
    case none, balanced
    case explicit([Float])

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let weights = try? c.decode([Float].self) { self = .explicit(weights); return }
        switch try c.decode(String.self) {
        case "balanced": self = .balanced
        case "none": self = .none
        case let other:
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                debugDescription: "'\(other)' is not \"balanced\", \"none\" or a list of per-class weights"))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .none: try c.encode("none")
        case .balanced: try c.encode("balanced")
        case .explicit(let weights): try c.encode(weights)
        }
    }
}

public struct TrainingOptions: Codable, Equatable {
    public var epochs = 10
    public var batchSize = 32
    public var optimizer = OptimizerOptions()
    public var seed: UInt64 = 1
    public var threadsPerRank = 1

    enum CodingKeys: String, CodingKey, CaseIterable {
        case epochs, batchSize = "batch_size", optimizer, seed, threadsPerRank = "threads_per_rank"
    }

    public init() {}

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        epochs = try c.decodeIfPresent(Int.self, forKey: .epochs) ?? epochs
        batchSize = try c.decodeIfPresent(Int.self, forKey: .batchSize) ?? batchSize
        optimizer = try c.decodeIfPresent(OptimizerOptions.self, forKey: .optimizer) ?? optimizer
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? seed
        threadsPerRank = try c.decodeIfPresent(Int.self, forKey: .threadsPerRank) ?? threadsPerRank
    }
}

public struct OptimizerOptions: Codable, Equatable {
    public enum Name: String, Codable, CaseIterable { case adam, sgd }
    public var name = Name.adam
    public var learningRate: Float = 0.001
    public var beta1: Float = 0.9
    public var beta2: Float = 0.999
    public var epsilon: Float = 1e-7
    public var momentum: Float = 0
    public var nesterov = false

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, learningRate = "learning_rate", beta1 = "beta_1", beta2 = "beta_2", epsilon, momentum, nesterov
    }

    public init() {}

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decodeChoice(Name.self, forKey: .name) ?? name
        learningRate = try c.decodeIfPresent(Float.self, forKey: .learningRate) ?? learningRate
        beta1 = try c.decodeIfPresent(Float.self, forKey: .beta1) ?? beta1
        beta2 = try c.decodeIfPresent(Float.self, forKey: .beta2) ?? beta2
        epsilon = try c.decodeIfPresent(Float.self, forKey: .epsilon) ?? epsilon
        momentum = try c.decodeIfPresent(Float.self, forKey: .momentum) ?? momentum
        nesterov = try c.decodeIfPresent(Bool.self, forKey: .nesterov) ?? nesterov
    }
}

public struct DistributedOptions: Codable, Equatable {
    /// Batch-norm statistics summed over ranks, so any number of ranks trains the same model; `auto` sums them only
    /// when a rank's share of the batch is small (see `BatchNormSynchronization`).
    public var syncBatchNorm = BatchNormSynchronization.true
    public var bucketMegabytes = 16
    /// Gradient buckets are summed over ranks while backward still runs (the sums are bit-identical either way).
    public var overlap = true
    /// The stall watchdog warns when a wait (a collective call or the data loader) lasts longer than
    /// max(stall_warning_seconds, stall_warning_factor x the median recent step time); 0 seconds turns it off.
    public var stallWarningSeconds: Double = 60
    public var stallWarningFactor: Double = 10
    /// A rank waiting this long ends the job with exit status 76 (requeue it); 0, the default, never does.
    public var stallAbortSeconds: Double = 0

    enum CodingKeys: String, CodingKey, CaseIterable {
        case syncBatchNorm = "sync_batch_norm", bucketMegabytes = "bucket_megabytes", overlap
        case stallWarningSeconds = "stall_warning_seconds", stallWarningFactor = "stall_warning_factor"
        case stallAbortSeconds = "stall_abort_seconds"
    }

    public init() {}

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        syncBatchNorm = try c.decodeIfPresent(BatchNormSynchronization.self, forKey: .syncBatchNorm) ?? syncBatchNorm
        bucketMegabytes = try c.decodeIfPresent(Int.self, forKey: .bucketMegabytes) ?? bucketMegabytes
        overlap = try c.decodeIfPresent(Bool.self, forKey: .overlap) ?? overlap
        stallWarningSeconds = try c.decodeIfPresent(Double.self, forKey: .stallWarningSeconds) ?? stallWarningSeconds
        stallWarningFactor = try c.decodeIfPresent(Double.self, forKey: .stallWarningFactor) ?? stallWarningFactor
        stallAbortSeconds = try c.decodeIfPresent(Double.self, forKey: .stallAbortSeconds) ?? stallAbortSeconds
    }
}

/// `distributed.sync_batch_norm`: `true` (any number of ranks trains the same model, at the cost of two small
/// allreduces per batch-norm layer and step), `false` (each rank normalises its own share of the batch, as PyTorch
/// DDP without SyncBatchNorm does), or `auto`: synchronise only when a rank's share of the batch is below
/// `autoThreshold` samples, where per-rank statistics get noisy (Wu and He 2018: batch norm degrades below ~16).
public enum BatchNormSynchronization: String, TrueFalseOrAuto {
    case `true`, `false`, auto

    public static let autoThreshold = 16

    /// Whether ranks sum their statistics when each gets `perRankBatch` samples.
    public func synchronizes(perRankBatch: Int) -> Bool {
        switch self {
        case .true: true
        case .false: false
        case .auto: perRankBatch < Self.autoThreshold
        }
    }
}

/// A setting given as JSON `true`, `false` or `"auto"`; anything else is refused naming what is allowed.
public protocol TrueFalseOrAuto: RawRepresentable<String>, CaseIterable, Codable, Equatable {
    static var `true`: Self { get }
    static var `false`: Self { get }
    static var auto: Self { get }
}

extension TrueFalseOrAuto {
    public init(from decoder: Decoder) throws {
        let value = try decoder.singleValueContainer()
        if let flag = try? value.decode(Bool.self) { self = flag ? .true : .false; return }
        let text = try? value.decode(String.self)
        guard let text, text == Self.auto.rawValue else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription:
                (text.map { "is \"\($0)\"" } ?? "is neither a boolean nor a string") + "; allowed: true, false, \"auto\""))
        }
        self = .auto
    }

    public func encode(to encoder: Encoder) throws {
        var value = encoder.singleValueContainer()
        if self == .auto { try value.encode(rawValue) } else { try value.encode(self == .true) }
    }
}

/// `compute.recompute_activations`: whether backward recomputes the activations that are cheap to recompute
/// instead of keeping them from forward (`Graph.recomputesActivations`). `auto` does where that keeps at most
/// `autoKeptFraction` of a training step's estimated memory: in DenseNets (measured: DenseNet201 at 224x224, batch
/// 16, 1.7 instead of 3.8 GiB, 1-12% slower in single runs on 2 cores), not in ResNets (ResNet50: 1.8 instead of 2.0 GiB).
public enum ActivationRecomputation: String, TrueFalseOrAuto {
    case `true`, `false`, auto

    public static let autoKeptFraction = 0.75

    /// Whether `model` recomputes when training `perRankBatch` images per rank.
    public func recomputes(_ model: Graph, perRankBatch: Int) -> Bool {
        switch self {
        case .true: return true
        case .false: return false
        case .auto:
            let kept = model.estimatedTrainingBytes(batch: perRankBatch, recomputingActivations: true)
            return kept <= Self.autoKeptFraction * model.estimatedTrainingBytes(batch: perRankBatch, recomputingActivations: false)
        }
    }
}

/// How each rank computes.
public struct ComputeOptions: Codable, Equatable {
    /// `auto` (each convolution's faster of Winograd and direct, timed once per machine and shape), `direct` (Keras'
    /// rounding) or `winograd` (faster 3x3 convolutions where oneDNN has them).
    public var convolutionAlgorithm = ConvolutionAlgorithm.auto
    /// `float32`, or Keras' `mixed_bfloat16`: convolutions in bf16 (fast where the CPU has bf16 instructions),
    /// weights, optimizer and checkpoints in float32.
    public var precision = Precision.float32
    /// Recompute in backward the activations that are cheap to recompute (batch norm + ReLU outputs read by
    /// convolutions, dense blocks' running concatenations) instead of keeping them: less memory, a little more time.
    public var recomputeActivations = ActivationRecomputation.auto

    enum CodingKeys: String, CodingKey, CaseIterable {
        case convolutionAlgorithm = "convolution_algorithm"
        case precision
        case recomputeActivations = "recompute_activations"
    }

    public init() {}

    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        convolutionAlgorithm = try c.decodeChoice(ConvolutionAlgorithm.self, forKey: .convolutionAlgorithm) ?? convolutionAlgorithm
        precision = try c.decodeChoice(Precision.self, forKey: .precision) ?? precision
        recomputeActivations = try c.decodeIfPresent(ActivationRecomputation.self, forKey: .recomputeActivations) ?? recomputeActivations
    }
}
