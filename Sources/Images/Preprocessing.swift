/// The input normalisation of `keras.applications`, channel for channel and in Float32 arithmetic, so
/// values match Keras bit for bit.
public enum Preprocessing: String, Codable, Sendable {
    /// ResNet50 (`mode="caffe"`): RGB to BGR, then subtract the ImageNet means in B, G, R order; no scaling.
    case caffe
    /// DenseNet201 (`mode="torch"`): x/255, subtract [0.485, 0.456, 0.406], divide by [0.229, 0.224, 0.225].
    case torch
    /// Raw 0...255 values.
    case none

    /// Writes the preprocessed pixel (given as 0...255 RGB) to `output[0...2]`.
    @inline(__always)
    func write(red: Float, green: Float, blue: Float, to output: UnsafeMutablePointer<Float>) {
        switch self {
        case .caffe:
            output[0] = blue - 103.939
            output[1] = green - 116.779
            output[2] = red - 123.68
        case .torch:
            output[0] = (red / 255 - 0.485) / 0.229
            output[1] = (green / 255 - 0.456) / 0.224
            output[2] = (blue / 255 - 0.406) / 0.225
        case .none:
            output[0] = red
            output[1] = green
            output[2] = blue
        }
    }
}
