import Foundation
import KerasHDF5
import Tensors
import XCTest

/// The HDF5 wrapper on its own: every string attribute kind Keras and h5py write, Keras' chunked name lists,
/// datasets, nested paths, and errors that name the file and object.
final class HDF5WrapperTests: XCTestCase {
    func testStringAttributesOfEveryKindRoundTrip() throws {
        let path = try temporaryFolder(self).appendingPathComponent("strings.h5").path
        let values = ["conv1_conv", "", "bn/gamma:0", "naïve"]
        let encodings: [HDF5StringEncoding] = [
            .keras, HDF5StringEncoding(.variableLength, .utf8), HDF5StringEncoding(.fixedLength(.nullPadded)),
            HDF5StringEncoding(.fixedLength(.nullTerminated)), HDF5StringEncoding(.fixedLength(.spacePadded), .utf8),
        ]
        let file = try HDF5File.create(path)
        let group = try file.root.createGroup("a/b/c")
        for (index, encoding) in encodings.enumerated() {
            try group.writeStrings(values, attribute: "list\(index)", encoding: encoding)
            try group.writeString("model config {\"x\": 1}", attribute: "scalar\(index)", encoding: encoding)
        }
        try group.writeEmptyFloat64Array(attribute: "weight_names")
        try file.close()

        let reopened = try HDF5File.openReadOnly(path)
        let readGroup = try reopened.root.group("a/b/c")
        for index in encodings.indices {
            XCTAssertEqual(try readGroup.readStrings(attribute: "list\(index)"), values, "\(encodings[index])")
            XCTAssertEqual(try readGroup.readString(attribute: "scalar\(index)"), "model config {\"x\": 1}")
        }
        XCTAssertEqual(try readGroup.readStrings(attribute: "weight_names"), [])
        XCTAssertEqual(try readGroup.readKerasStringList("weight_names"), [])
        XCTAssertEqual(try readGroup.readKerasStringList("absent"), [])
        assertThrows([path, "/a/b/c", "missing attribute 'nope'"]) { _ = try readGroup.readStrings(attribute: "nope") }
        assertThrows([path, "holds 4 strings, expected one"]) { _ = try readGroup.readString(attribute: "list0") }
    }

    /// keras-h5-format §6: 701 names of 100 characters exceed 64512 bytes in fixed width, so they are split as
    /// numpy's array_split does: layer_names0 (351) and layer_names1 (350), fixed-length NULLPAD, and h5py reads
    /// them back the same way (checked by the Python referee in KerasRoundTripTests).
    func testChunkedNameListsFollowKeras() throws {
        let path = try temporaryFolder(self).appendingPathComponent("chunks.h5").path
        let names = (0..<701).map { String(format: "layer_%03d_", $0) + String(repeating: "x", count: 90) }
        XCTAssertEqual(names[0].count, 100)
        let file = try HDF5File.create(path)
        try file.root.writeKerasStringList(names, name: "layer_names")
        try file.root.writeKerasStringList(["a", "bb"], name: "short")
        try file.close()
        let root = try HDF5File.openReadOnly(path).root
        XCTAssertFalse(root.hasAttribute("layer_names"))
        XCTAssertEqual(try root.readStrings(attribute: "layer_names0").count, 351)
        XCTAssertEqual(try root.readStrings(attribute: "layer_names1").count, 350)
        XCTAssertFalse(root.hasAttribute("layer_names2"))
        XCTAssertEqual(try root.readKerasStringList("layer_names"), names)
        XCTAssertEqual(try root.attributeNames(), ["layer_names0", "layer_names1", "short"])
        XCTAssertEqual(try root.readKerasStringList("short"), ["a", "bb"])
    }

    func testDatasetsAndErrorsNameFileAndObject() throws {
        let path = try temporaryFolder(self).appendingPathComponent("data.h5").path
        let file = try HDF5File.create(path)
        let kernel = Tensor(shape: [3, 3, 2, 4], scalars: (0..<72).map { Float($0) * 0.5 - 7 })
        try file.root.createFloatDataset("conv/conv/kernel:0", kernel)
        try file.root.createFloatDataset("scalar", Tensor(shape: [], scalars: [2.5]))
        try file.root.createInt64ScalarDataset("iteration", 1 << 40)
        try file.close()
        let root = try HDF5File.openReadOnly(path).root
        XCTAssertEqual(try root.dataset("conv/conv/kernel:0").readFloats().scalars, kernel.scalars)
        XCTAssertEqual(try root.dataset("conv/conv/kernel:0").shape, [3, 3, 2, 4])
        XCTAssertEqual(try root.dataset("scalar").readFloats().shape, [])
        XCTAssertEqual(try root.dataset("iteration").readInt64Scalar(), 1 << 40)
        XCTAssertEqual(root.kind(of: "conv/conv"), .group)
        XCTAssertNil(root.kind(of: "conv/missing/x"))
        XCTAssertEqual(try root.memberNames(), ["conv", "iteration", "scalar"])
        assertThrows([path, "/conv/missing", "no such dataset"]) { _ = try root.dataset("conv/missing") }
        assertThrows([path, "/iteration", "expected float32 values"]) { _ = try root.dataset("iteration").readFloats() }
        assertThrows(["/nonexistent/folder/x.h5", "cannot open as an HDF5 file", "HDF5:"]) {
            _ = try HDF5File.openReadOnly("/nonexistent/folder/x.h5")
        }
    }
}
