import CHDF5
import Foundation

/// How string attributes are stored. Keras and h5py write variable-length ASCII (lists of bytes), variable-length
/// UTF-8 (Python `str`), and fixed-length NULLPAD arrays (numpy `S` arrays, old Keras); C writers often use NULLTERM.
public struct HDF5StringEncoding: Equatable, Sendable {
    public enum Storage: Equatable, Sendable { case variableLength, fixedLength(Padding) }
    public enum Padding: Equatable, Sendable { case nullTerminated, nullPadded, spacePadded }
    public enum Charset: Equatable, Sendable { case ascii, utf8 }

    public var storage: Storage
    public var charset: Charset

    public init(_ storage: Storage, _ charset: Charset = .ascii) { (self.storage, self.charset) = (storage, charset) }

    /// What Keras writes for names and JSON: variable-length ASCII.
    public static let keras = HDF5StringEncoding(.variableLength, .ascii)
}

/// Keras' limit for one attribute in the object header (`HDF5_OBJECT_HEADER_LIMIT`); longer name lists are chunked.
let kerasObjectHeaderLimit = 64512

extension HDF5Object {
    public func hasAttribute(_ name: String) -> Bool { H5Aexists(id, name) > 0 }

    public func attributeNames() throws -> [String] {
        var info = H5O_info_t()
        try check(H5Oget_info1(id, &info), file: file.path, object: path, "cannot read object info")
        return try (0..<info.num_attrs).map { index in
            let length = try check(H5Aget_name_by_idx(id, ".", H5_INDEX_NAME, H5_ITER_INC, index, nil, 0, hid_t(H5P_DEFAULT)),
                                   file: file.path, object: path, "cannot read attribute name \(index)")
            var buffer = [CChar](repeating: 0, count: length + 1)
            try check(H5Aget_name_by_idx(id, ".", H5_INDEX_NAME, H5_ITER_INC, index, &buffer, buffer.count, hid_t(H5P_DEFAULT)),
                      file: file.path, object: path, "cannot read attribute name \(index)")
            return String(cString: buffer)
        }
    }

    /// A string attribute of any kind, scalar or 1-D, as a list. An empty numeric array (Keras' `weight_names` of
    /// a weightless layer, float64 with shape (0,)) reads as [].
    public func readStrings(attribute name: String) throws -> [String] {
        try withAttribute(name) { attribute, type, count in
            guard H5Tget_class(type) == H5T_STRING else {
                guard count == 0 else { throw fail("attribute '\(name)' holds \(describeType(type)), expected strings") }
                return []
            }
            let charset = H5Tget_cset(type)
            if H5Tis_variable_str(type) > 0 {
                return try readVariableLengthStrings(attribute, count: count, charset: charset, name: name)
            }
            return try readFixedLengthStrings(attribute, type: type, count: count, name: name)
        }
    }

    /// A scalar string attribute (or a 1-element array).
    public func readString(attribute name: String) throws -> String {
        let values = try readStrings(attribute: name)
        guard values.count == 1 else { throw fail("attribute '\(name)' holds \(values.count) strings, expected one") }
        return values[0]
    }

    /// Writes a 1-D string array attribute (replacing any existing one).
    public func writeStrings(_ values: [String], attribute name: String, encoding: HDF5StringEncoding = .keras) throws {
        try writeStringAttribute(name, values, shape: [values.count], encoding: encoding)
    }

    /// Writes a scalar string attribute (replacing any existing one).
    public func writeString(_ value: String, attribute name: String, encoding: HDF5StringEncoding = .keras) throws {
        try writeStringAttribute(name, [value], shape: nil, encoding: encoding)
    }

    /// Keras' `weight_names` for a weightless layer: an empty float64 array.
    public func writeEmptyFloat64Array(attribute name: String) throws {
        try createAttribute(name, type: chdf5_ieee_f64le(), shape: [0]) { _ in }
    }

    public func readUInt64(attribute name: String) throws -> UInt64 {
        try withAttribute(name) { attribute, type, count in
            guard H5Tget_class(type) == H5T_INTEGER, count == 1 else {
                throw fail("attribute '\(name)' holds \(count) \(describeType(type)) values, expected one integer")
            }
            var value: UInt64 = 0
            try check(H5Aread(attribute, chdf5_native_uint64(), &value), file: file.path, object: path, "cannot read attribute '\(name)'")
            return value
        }
    }

    public func writeUInt64(_ value: UInt64, attribute name: String) throws {
        try createAttribute(name, type: chdf5_std_u64le(), shape: nil) { attribute in
            var stored = value
            try check(H5Awrite(attribute, chdf5_native_uint64(), &stored), file: file.path, object: path,
                      "cannot write attribute '\(name)'")
        }
    }

    /// Keras' `load_attributes_from_hdf5_group`: the attribute `name` if present, else the concatenation of the
    /// chunks `name0`, `name1`, ... (written when the list is too large for one object header), else [].
    public func readKerasStringList(_ name: String) throws -> [String] {
        if hasAttribute(name) { return try readStrings(attribute: name) }
        var values: [String] = []
        var chunk = 0
        while hasAttribute("\(name)\(chunk)") {
            values += try readStrings(attribute: "\(name)\(chunk)")
            chunk += 1
        }
        return values
    }

    /// Keras' `save_attributes_to_hdf5_group`: one variable-length ASCII array, or, when the fixed-width form
    /// (count x longest name) would exceed 64512 bytes, chunks `name0..nameK` of fixed-length NULLPAD strings split
    /// as numpy's `array_split` does.
    public func writeKerasStringList(_ values: [String], name: String) throws {
        let width = max(1, values.map(\.utf8.count).max() ?? 1)
        guard width <= kerasObjectHeaderLimit else {
            throw fail("attribute '\(name)' has an entry of \(width) bytes, more than Keras' limit of \(kerasObjectHeaderLimit)")
        }
        var chunks = 1
        while chunks < values.count, (values.count + chunks - 1) / chunks * width > kerasObjectHeaderLimit { chunks += 1 }
        guard chunks > 1 else { return try writeStrings(values, attribute: name) }
        var start = 0
        for chunk in 0..<chunks {
            let count = values.count / chunks + (chunk < values.count % chunks ? 1 : 0)
            try writeStringAttribute("\(name)\(chunk)", Array(values[start..<start + count]), shape: [count],
                                     encoding: HDF5StringEncoding(.fixedLength(.nullPadded)), width: width)
            start += count
        }
    }

    // MARK: helpers

    /// Opens an attribute and passes its handle, datatype and element count.
    private func withAttribute<R>(_ name: String, _ body: (hid_t, hid_t, Int) throws -> R) throws -> R {
        guard hasAttribute(name) else { throw fail("missing attribute '\(name)'") }
        let attribute = try check(H5Aopen(id, name, hid_t(H5P_DEFAULT)), file: file.path, object: path,
                                  "cannot open attribute '\(name)'")
        defer { H5Aclose(attribute) }
        let type = try check(H5Aget_type(attribute), file: file.path, object: path, "cannot read the type of attribute '\(name)'")
        defer { H5Tclose(type) }
        let space = try check(H5Aget_space(attribute), file: file.path, object: path, "cannot read the shape of attribute '\(name)'")
        defer { H5Sclose(space) }
        let shape = try dataspaceShape(space, file: file.path, object: path)
        guard shape.count <= 1 else { throw fail("attribute '\(name)' has shape \(shape), expected a scalar or a list") }
        return try body(attribute, type, shape.first ?? 1)
    }

    private func readVariableLengthStrings(_ attribute: hid_t, count: Int, charset: H5T_cset_t, name: String) throws -> [String] {
        let memoryType = H5Tcopy(chdf5_c_s1())
        defer { H5Tclose(memoryType) }
        H5Tset_size(memoryType, chdf5_variable())
        H5Tset_cset(memoryType, charset)
        var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: count)
        try check(H5Aread(attribute, memoryType, &pointers), file: file.path, object: path, "cannot read attribute '\(name)'")
        defer { for pointer in pointers where pointer != nil { H5free_memory(pointer) } }
        return pointers.map { $0.map { String(cString: $0) } ?? "" }
    }

    private func readFixedLengthStrings(_ attribute: hid_t, type: hid_t, count: Int, name: String) throws -> [String] {
        let width = H5Tget_size(type)
        let padding = H5Tget_strpad(type)
        var bytes = [UInt8](repeating: 0, count: max(1, width * count))
        try check(H5Aread(attribute, type, &bytes), file: file.path, object: path, "cannot read attribute '\(name)'")
        return (0..<count).map { index in
            var element = bytes[index * width..<(index + 1) * width]
            if let end = element.firstIndex(of: 0) { element = element[..<end] }
            if padding == H5T_STR_SPACEPAD {
                while element.last == UInt8(ascii: " ") { element = element.dropLast() }
            }
            return String(decoding: element, as: UTF8.self)
        }
    }

    /// `shape` nil: scalar. `width` fixes the element size of fixed-length strings (default: longest value).
    private func writeStringAttribute(_ name: String, _ values: [String], shape: [Int]?, encoding: HDF5StringEncoding,
                                      width: Int? = nil) throws {
        let type = H5Tcopy(chdf5_c_s1())
        defer { H5Tclose(type) }
        H5Tset_cset(type, encoding.charset == .ascii ? H5T_CSET_ASCII : H5T_CSET_UTF8)
        switch encoding.storage {
        case .variableLength:
            H5Tset_size(type, chdf5_variable())
            H5Tset_strpad(type, H5T_STR_NULLTERM)
            let cStrings = values.map { strdup($0) }
            defer { cStrings.forEach { free($0) } }
            try createAttribute(name, type: type, shape: shape) { attribute in
                try check(H5Awrite(attribute, type, cStrings), file: file.path, object: path, "cannot write attribute '\(name)'")
            }
        case .fixedLength(let padding):
            let longest = max(1, values.map(\.utf8.count).max() ?? 1)
            let size = width ?? (padding == .nullTerminated ? longest + 1 : longest)
            let filler: UInt8 = padding == .spacePadded ? UInt8(ascii: " ") : 0
            H5Tset_size(type, size)
            H5Tset_strpad(type, padding == .nullTerminated ? H5T_STR_NULLTERM : padding == .nullPadded ? H5T_STR_NULLPAD : H5T_STR_SPACEPAD)
            var bytes = [UInt8](repeating: filler, count: max(1, size * values.count))
            for (index, value) in values.enumerated() {
                let utf8 = Array(value.utf8)
                guard utf8.count <= size - (padding == .nullTerminated ? 1 : 0) else {
                    throw fail("attribute '\(name)': '\(value)' does not fit \(size) bytes")
                }
                bytes.replaceSubrange(index * size..<index * size + utf8.count, with: utf8)
                if padding == .nullTerminated { bytes[index * size + utf8.count] = 0 }
            }
            try createAttribute(name, type: type, shape: shape) { attribute in
                try check(H5Awrite(attribute, type, bytes), file: file.path, object: path, "cannot write attribute '\(name)'")
            }
        }
    }

    private func createAttribute(_ name: String, type: hid_t, shape: [Int]?, write: (hid_t) throws -> Void) throws {
        if hasAttribute(name) {
            try check(H5Adelete(id, name), file: file.path, object: path, "cannot replace attribute '\(name)'")
        }
        let space = try makeDataspace(shape, file: file.path, object: path)
        defer { H5Sclose(space) }
        let attribute = try check(H5Acreate2(id, name, type, space, hid_t(H5P_DEFAULT), hid_t(H5P_DEFAULT)),
                                  file: file.path, object: path, "cannot create attribute '\(name)'")
        defer { H5Aclose(attribute) }
        try write(attribute)
    }
}
