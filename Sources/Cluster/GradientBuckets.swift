import Tensors

extension MPIWorld {
    /// Sums equally shaped tensors over all ranks, packed into buckets of at most `bucketElements` floats so
    /// that many small gradients cost a few large allreduces instead of hundreds of small ones.
    public func sum(_ tensors: inout [Tensor], bucketElements: Int = 4 << 20) throws {
        guard size > 1 else { return }
        var start = 0
        while start < tensors.count {
            var end = start, elements = 0
            while end < tensors.count && (end == start || elements + tensors[end].count <= bucketElements) {
                elements += tensors[end].count
                end += 1
            }
            var bucket = Tensor(uninitializedShape: [elements])
            try bucket.withUnsafeMutableBufferPointer { packed in
                var offset = 0
                for tensor in tensors[start..<end] {
                    tensor.withUnsafeBufferPointer { packed.baseAddress!.advanced(by: offset).update(from: $0.baseAddress!, count: $0.count) }
                    offset += tensor.count
                }
                try sum(packed)
                offset = 0
                for index in start..<end {
                    tensors[index].withUnsafeMutableBufferPointer {
                        $0.baseAddress!.update(from: packed.baseAddress!.advanced(by: offset), count: $0.count)
                        offset += $0.count
                    }
                }
            }
            start = end
        }
    }
}
