import Cluster
import XCTest

/// Gradient buckets depend only on the gradients' sizes (in backward order) and the bucket size: consecutive
/// gradients fill a bucket up to the limit, a gradient larger than the limit gets a bucket of its own.
final class GradientExchangeTests: XCTestCase {
    func testBucketsAreConsecutiveAndRespectTheLimit() throws {
        let world = try MPIWorld.shared()
        let shapes = [[3, 3, 4, 8], [8], [8], [100], [5, 5], [2]]  // 288, 8, 8, 100, 25, 2 values
        let exchange = GradientExchange(world: world, gradientShapes: shapes, bucketElements: 120, overlap: true)
        XCTAssertEqual(exchange.buckets, [0..<288, 288..<404, 404..<431])
        XCTAssertEqual(exchange.bucketOfGradient, [0, 1, 1, 1, 2, 2])
        XCTAssertEqual(exchange.offsets, [0, 288, 296, 304, 404, 429])
        let single = GradientExchange(world: world, gradientShapes: shapes, bucketElements: 1 << 20, overlap: false)
        XCTAssertEqual(single.buckets, [0..<431])
    }
}
