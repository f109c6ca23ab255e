import Foundation
import Layers
import Tensors
import XCTest
@_exported import TestSupport

/// A file of Tests/Fixtures/keras-reference/fixtures (`kerasFixtures`, from TestSupport).
func fixture(_ name: String) -> String { kerasFixtures.appendingPathComponent(name).path }

/// Asserts that `body` throws an error whose description contains every one of `fragments`; returns the description.
@discardableResult
func assertThrows(_ fragments: [String], file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Void) -> String {
    do {
        try body()
        XCTFail("expected an error containing \(fragments)", file: file, line: line)
        return ""
    } catch {
        let text = "\(error)"
        for fragment in fragments where !text.contains(fragment) {
            XCTFail("error \"\(text)\" does not contain \"\(fragment)\"", file: file, line: line)
        }
        return text
    }
}
