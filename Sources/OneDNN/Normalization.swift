import CDNNL
import Tensors

/// oneDNN 2.6 takes gamma and beta as separate (C) vectors with these flags (the older `use_scaleshift`
/// packs them into one (2, C) tensor).
private let scaleAndShift = dnnl_use_scale.rawValue | dnnl_use_shift.rawValue

// Batch normalization runs in the layout of its input: (N, C) plain or NHWC in either layout.
extension OneDNNBackend {
    public func channelwiseCombination(outputGradient: Tensor, x: Tensor, _ coefficients: ChannelCoefficients, reluOutput: Tensor?) -> Tensor {
        Profiler.measure("channelwiseCombination", "primitive", ["shapes": .text("\(x.shape)")]) {
            // Through a ReLU in its output's layout, where the ReLU's own backward would have put the gradient.
            let layout = reluOutput?.layout ?? outputGradient.layout
            return Tensors.channelwiseCombination(reordered(outputGradient, to: layout), reordered(x, to: layout), coefficients,
                                                  reluOutput: reluOutput, threads: threads)
        }
    }

    public func channelSums(_ x: Tensor, outputGradient: Tensor?, reluOutput: Tensor?) -> ChannelSums {
        Profiler.measure("channelSums", "primitive", ["shapes": .text("\(x.shape)")]) {
            Tensors.channelSums(x, outputGradient.map { reordered($0, to: x.layout) },
                                reluOutput: reluOutput.map { reordered($0, to: x.layout) }, threads: threads)
        }
    }

    public func batchNormTraining(_ x: Tensor, gamma: Tensor, beta: Tensor, epsilon: Float) -> BatchNormTrainingOutput {
        let channels = x.shape.last!
        let key = PrimitiveKey(operation: .batchNormTraining(epsilon: epsilon), shapes: [x.shape], layouts: [x.layout])
        let forward = primitive(key) {
            batchNormForwardDescriptor(x, dnnl_forward_training, flags: scaleAndShift, epsilon, "\(key)")
        }
        let results = execute(forward, inputs: [DNNL_ARG_SRC: x, DNNL_ARG_SCALE: gamma, DNNL_ARG_SHIFT: beta],
                              outputs: [DNNL_ARG_DST: (x.shape, x.layout), DNNL_ARG_MEAN: ([channels], .plain),
                                        DNNL_ARG_VARIANCE: ([channels], .plain)])
        return BatchNormTrainingOutput(output: results[DNNL_ARG_DST]!, mean: results[DNNL_ARG_MEAN]!,
                                       variance: results[DNNL_ARG_VARIANCE]!)
    }

    public func batchNormInference(_ x: Tensor, gamma: Tensor, beta: Tensor, mean: Tensor, variance: Tensor,
                                   epsilon: Float) -> Tensor {
        batchNormInference(x, gamma: gamma, beta: beta, mean: mean, variance: variance, epsilon: epsilon, relu: false)
    }

    /// oneDNN's batch normalization with its ReLU fused in (`dnnl_fuse_norm_relu`; in inference it needs no
    /// workspace): one pass instead of two over the activation.
    public func batchNormReLUInference(_ x: Tensor, gamma: Tensor, beta: Tensor, mean: Tensor, variance: Tensor,
                                       epsilon: Float) -> Tensor {
        batchNormInference(x, gamma: gamma, beta: beta, mean: mean, variance: variance, epsilon: epsilon, relu: true)
    }

    private func batchNormInference(_ x: Tensor, gamma: Tensor, beta: Tensor, mean: Tensor, variance: Tensor,
                                    epsilon: Float, relu: Bool) -> Tensor {
        let key = PrimitiveKey(operation: .batchNormInference(epsilon: epsilon, relu: relu), shapes: [x.shape],
                               layouts: [x.layout])
        let forward = primitive(key) {
            let flags = scaleAndShift | dnnl_use_global_stats.rawValue | (relu ? dnnl_fuse_norm_relu.rawValue : 0)
            return batchNormForwardDescriptor(x, dnnl_forward_inference, flags: flags, epsilon, "\(key)")
        }
        return execute(forward, inputs: [DNNL_ARG_SRC: x, DNNL_ARG_SCALE: gamma, DNNL_ARG_SHIFT: beta,
                                         DNNL_ARG_MEAN: mean, DNNL_ARG_VARIANCE: variance],
                       outputs: [DNNL_ARG_DST: (x.shape, x.layout)])[DNNL_ARG_DST]!
    }

    /// Returns the input gradient in `x`'s layout (`outputGradient` is reordered to it if needed).
    public func batchNormBackward(_ x: Tensor, outputGradient: Tensor, gamma: Tensor, mean: Tensor, variance: Tensor,
                                  epsilon: Float) -> BatchNormGradients {
        precondition(outputGradient.shape == x.shape, "batch norm gradient \(outputGradient.shape) vs input \(x.shape)")
        let channels = x.shape.last!
        let key = PrimitiveKey(operation: .batchNormBackward(epsilon: epsilon), shapes: [x.shape], layouts: [x.layout])
        let backward = primitive(key) {
            var data = MemoryDescriptor.activation(x)
            var operation = dnnl_batch_normalization_desc_t()
            check(dnnl_batch_normalization_backward_desc_init(&operation, dnnl_backward, &data, &data, epsilon,
                                                              scaleAndShift), "\(key)")
            let hint = batchNormForwardDescriptor(x, dnnl_forward_training, flags: scaleAndShift, epsilon,
                                                  "\(key)").handle
            return describe(&operation, hint: hint, "\(key)")
        }
        // oneDNN rejects the call without a shift argument although the gradients do not depend on beta;
        // gamma stands in for it and is not read as such.
        let results = execute(backward, inputs: [DNNL_ARG_SRC: x,
                                                 DNNL_ARG_DIFF_DST: reordered(outputGradient, to: x.layout),
                                                 DNNL_ARG_MEAN: mean, DNNL_ARG_VARIANCE: variance,
                                                 DNNL_ARG_SCALE: gamma, DNNL_ARG_SHIFT: gamma],
                              outputs: [DNNL_ARG_DIFF_SRC: (x.shape, x.layout),
                                        DNNL_ARG_DIFF_SCALE: ([channels], .plain),
                                        DNNL_ARG_DIFF_SHIFT: ([channels], .plain)])
        return BatchNormGradients(input: results[DNNL_ARG_DIFF_SRC]!, gamma: results[DNNL_ARG_DIFF_SCALE]!,
                                  beta: results[DNNL_ARG_DIFF_SHIFT]!)
    }

    private func batchNormForwardDescriptor(_ x: Tensor, _ propagation: dnnl_prop_kind_t, flags: UInt32,
                                            _ epsilon: Float, _ context: String) -> PrimitiveDescriptor {
        var data = MemoryDescriptor.activation(x)
        var operation = dnnl_batch_normalization_desc_t()
        check(dnnl_batch_normalization_forward_desc_init(&operation, propagation, &data, epsilon, flags), context)
        return describe(&operation, context)
    }
}
