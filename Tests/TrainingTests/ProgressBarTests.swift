import Training
import XCTest

final class ProgressBarTests: XCTestCase {
    func testLinesLookLikeKeras() {
        let bar = ProgressBar(totalSteps: 78, interactive: false)
        XCTAssertEqual(bar.line(step: 78, elapsed: 113, metrics: [("loss", 0.23456), ("accuracy", 0.9)]),
                       "78/78 [==============================] - 113s 1s/step - loss: 0.2346 - accuracy: 0.9000")
        XCTAssertEqual(bar.line(step: 39, elapsed: 2, metrics: [("loss", 1)]),
                       "39/78 [==============>...............] - 2s 51ms/step - loss: 1.0000")
        XCTAssertEqual(bar.line(step: 1, elapsed: 0.5, metrics: []), " 1/78 [>.............................] - 0s 500ms/step")
    }
}
