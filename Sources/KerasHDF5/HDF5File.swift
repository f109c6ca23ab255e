import CHDF5
import Tensors

/// An open HDF5 file. Closed by `close()` (which reports errors) or, failing that, when released.
public final class HDF5File {
    public let path: String
    let id: hid_t
    private var isOpen = true

    private init(path: String, id: hid_t) { (self.path, self.id) = (path, id) }

    /// Opens an existing file for reading.
    public static func openReadOnly(_ path: String) throws -> HDF5File {
        silenceHDF5Diagnostics()
        let id = try check(H5Fopen(path, chdf5_acc_rdonly(), hid_t(H5P_DEFAULT)), file: path, object: "",
                           "cannot open as an HDF5 file")
        return HDF5File(path: path, id: id)
    }

    /// Creates (or truncates) a file. Closing uses H5F_CLOSE_STRONG, so `close()` really closes the file even if
    /// an object handle were still open, and what `close()` returns is final.
    public static func create(_ path: String) throws -> HDF5File {
        silenceHDF5Diagnostics()
        let access = try check(H5Pcreate(chdf5_file_access()), file: path, object: "", "cannot create a file access list")
        defer { H5Pclose(access) }
        try check(H5Pset_fclose_degree(access, H5F_CLOSE_STRONG), file: path, object: "", "cannot set the close degree")
        let id = try check(H5Fcreate(path, chdf5_acc_trunc(), hid_t(H5P_DEFAULT), access), file: path, object: "",
                           "cannot create the file")
        return HDF5File(path: path, id: id)
    }

    public var root: HDF5Group {
        get throws {
            HDF5Group(file: self, id: try check(H5Gopen2(id, "/", hid_t(H5P_DEFAULT)), file: path, object: "/", "cannot open the root group"),
                      path: "/")
        }
    }

    public func flush() throws {
        try check(H5Fflush(id, H5F_SCOPE_LOCAL), file: path, object: "", "cannot flush")
    }

    public func close() throws {
        guard isOpen else { return }
        isOpen = false
        try check(H5Fclose(id), file: path, object: "", "cannot close")
    }

    deinit { if isOpen { H5Fclose(id) } }
}

/// Something in a file that can carry attributes: a group or a dataset.
public protocol HDF5Object: AnyObject {
    var file: HDF5File { get }
    var id: hid_t { get }
    /// Absolute path inside the file, for messages.
    var path: String { get }
}

extension HDF5Object {
    func fail(_ message: String, _ name: String = "") -> HDF5Error {
        HDF5Error(file: file.path, object: name.isEmpty ? path : joined(path, name), message: message, hdf5Messages: [])
    }
}

func joined(_ parent: String, _ child: String) -> String { parent.hasSuffix("/") ? parent + child : parent + "/" + child }

public enum HDF5ObjectKind { case group, dataset }

/// An open group. Names given to its methods are paths relative to it and may contain '/'.
public final class HDF5Group: HDF5Object {
    public let file: HDF5File
    public let id: hid_t
    public let path: String

    init(file: HDF5File, id: hid_t, path: String) { (self.file, self.id, self.path) = (file, id, path) }
    deinit { H5Gclose(id) }

    /// Whether `name` leads to an object, checking each path component (H5Lexists requires every parent to exist).
    public func contains(_ name: String) -> Bool {
        var prefix = ""
        for component in name.split(separator: "/", omittingEmptySubsequences: false) {
            guard !component.isEmpty else { return false }
            prefix += (prefix.isEmpty ? "" : "/") + component
            guard H5Lexists(id, prefix, hid_t(H5P_DEFAULT)) > 0 else { return false }
        }
        return !prefix.isEmpty
    }

    public func kind(of name: String) -> HDF5ObjectKind? {
        guard contains(name) else { return nil }
        let object = H5Oopen(id, name, hid_t(H5P_DEFAULT))
        guard object >= 0 else { _ = takeHDF5ErrorMessages(); return nil }
        defer { H5Oclose(object) }
        switch H5Iget_type(object) {
        case H5I_GROUP: return .group
        case H5I_DATASET: return .dataset
        default: return nil
        }
    }

    public func group(_ name: String) throws -> HDF5Group {
        guard kind(of: name) == .group else { throw fail("no such group", name) }
        let child = try check(H5Gopen2(id, name, hid_t(H5P_DEFAULT)), file: file.path, object: joined(path, name),
                              "cannot open group")
        return HDF5Group(file: file, id: child, path: joined(path, name))
    }

    /// Creates a group, and any missing groups on the way (`a/b/c`).
    @discardableResult
    public func createGroup(_ name: String) throws -> HDF5Group {
        let child = try withIntermediateGroups { links in
            try check(H5Gcreate2(id, name, links, hid_t(H5P_DEFAULT), hid_t(H5P_DEFAULT)), file: file.path,
                      object: joined(path, name), "cannot create group")
        }
        return HDF5Group(file: file, id: child, path: joined(path, name))
    }

    /// Names of the group's direct members, in name order.
    public func memberNames() throws -> [String] {
        var info = H5G_info_t()
        try check(H5Gget_info(id, &info), file: file.path, object: path, "cannot list group")
        return try (0..<info.nlinks).map { index in
            let length = try check(H5Lget_name_by_idx(id, ".", H5_INDEX_NAME, H5_ITER_INC, index, nil, 0, hid_t(H5P_DEFAULT)),
                                   file: file.path, object: path, "cannot read member name \(index)")
            var buffer = [CChar](repeating: 0, count: Int(length) + 1)
            try check(H5Lget_name_by_idx(id, ".", H5_INDEX_NAME, H5_ITER_INC, index, &buffer, buffer.count, hid_t(H5P_DEFAULT)),
                      file: file.path, object: path, "cannot read member name \(index)")
            return String(cString: buffer)
        }
    }

    public func dataset(_ name: String) throws -> HDF5Dataset {
        guard kind(of: name) == .dataset else { throw fail("no such dataset", name) }
        let dataset = try check(H5Dopen2(id, name, hid_t(H5P_DEFAULT)), file: file.path, object: joined(path, name),
                                "cannot open dataset")
        return HDF5Dataset(file: file, id: dataset, path: joined(path, name))
    }

    /// Writes a contiguous little-endian float32 dataset (Keras' `<f4`) with the tensor's shape.
    @discardableResult
    public func createFloatDataset(_ name: String, _ tensor: Tensor) throws -> HDF5Dataset {
        let dataset = try createDataset(name, type: chdf5_ieee_f32le(), shape: tensor.shape)
        _ = try tensor.withUnsafeBufferPointer { values in
            try check(H5Dwrite(dataset.id, chdf5_native_float(), chdf5_s_all(), chdf5_s_all(), hid_t(H5P_DEFAULT),
                               values.baseAddress), file: file.path, object: dataset.path, "cannot write dataset")
        }
        return dataset
    }

    /// Writes a scalar little-endian int64 dataset (Keras' optimizer iteration counters).
    @discardableResult
    public func createInt64ScalarDataset(_ name: String, _ value: Int64) throws -> HDF5Dataset {
        let dataset = try createDataset(name, type: chdf5_std_i64le(), shape: nil)
        var stored = value
        try check(H5Dwrite(dataset.id, chdf5_native_int64(), chdf5_s_all(), chdf5_s_all(), hid_t(H5P_DEFAULT), &stored),
                  file: file.path, object: dataset.path, "cannot write dataset")
        return dataset
    }

    /// `shape` nil: a scalar dataspace.
    private func createDataset(_ name: String, type: hid_t, shape: [Int]?) throws -> HDF5Dataset {
        let objectPath = joined(path, name)
        let space = try makeDataspace(shape, file: file.path, object: objectPath)
        defer { H5Sclose(space) }
        let dataset = try withIntermediateGroups { links in
            try check(H5Dcreate2(id, name, type, space, links, hid_t(H5P_DEFAULT), hid_t(H5P_DEFAULT)), file: file.path,
                      object: objectPath, "cannot create dataset")
        }
        return HDF5Dataset(file: file, id: dataset, path: objectPath)
    }

    private func withIntermediateGroups(_ body: (hid_t) throws -> hid_t) throws -> hid_t {
        let links = try check(H5Pcreate(chdf5_link_create()), file: file.path, object: path, "cannot create a link list")
        defer { H5Pclose(links) }
        try check(H5Pset_create_intermediate_group(links, 1), file: file.path, object: path, "cannot set intermediate groups")
        return try body(links)
    }
}

func makeDataspace(_ shape: [Int]?, file: String, object: String) throws -> hid_t {
    guard let shape else { return try check(H5Screate(H5S_SCALAR), file: file, object: object, "cannot create a dataspace") }
    let dimensions = shape.map { hsize_t($0) }
    return try check(H5Screate_simple(Int32(shape.count), dimensions, nil), file: file, object: object,
                     "cannot create a dataspace")
}

/// The shape of a dataspace: [] for a scalar.
func dataspaceShape(_ space: hid_t, file: String, object: String) throws -> [Int] {
    let rank = try check(H5Sget_simple_extent_ndims(space), file: file, object: object, "cannot read the dataspace")
    var dimensions = [hsize_t](repeating: 0, count: Int(rank))
    try check(H5Sget_simple_extent_dims(space, &dimensions, nil), file: file, object: object, "cannot read the dataspace")
    return dimensions.map { Int($0) }
}

/// An open dataset.
public final class HDF5Dataset: HDF5Object {
    public let file: HDF5File
    public let id: hid_t
    public let path: String

    init(file: HDF5File, id: hid_t, path: String) { (self.file, self.id, self.path) = (file, id, path) }
    deinit { H5Dclose(id) }

    public var shape: [Int] {
        get throws {
            let space = try check(H5Dget_space(id), file: file.path, object: path, "cannot read the dataspace")
            defer { H5Sclose(space) }
            return try dataspaceShape(space, file: file.path, object: path)
        }
    }

    /// The dataset's values as float32 (HDF5 converts other float widths). Refuses non-float data.
    public func readFloats() throws -> Tensor {
        let type = try check(H5Dget_type(id), file: file.path, object: path, "cannot read the datatype")
        defer { H5Tclose(type) }
        guard H5Tget_class(type) == H5T_FLOAT else { throw fail("holds \(describeType(type)), expected float32 values") }
        var tensor = Tensor(zeros: try shape)
        _ = try tensor.withUnsafeMutableBufferPointer { values in
            try check(H5Dread(id, chdf5_native_float(), chdf5_s_all(), chdf5_s_all(), hid_t(H5P_DEFAULT), values.baseAddress),
                      file: file.path, object: path, "cannot read the values")
        }
        return tensor
    }

    public func readInt64Scalar() throws -> Int64 {
        let type = try check(H5Dget_type(id), file: file.path, object: path, "cannot read the datatype")
        defer { H5Tclose(type) }
        guard H5Tget_class(type) == H5T_INTEGER, try shape == [] else {
            throw fail("holds \(describeType(type)) of shape \(try shape), expected an integer scalar")
        }
        var value: Int64 = 0
        try check(H5Dread(id, chdf5_native_int64(), chdf5_s_all(), chdf5_s_all(), hid_t(H5P_DEFAULT), &value),
                  file: file.path, object: path, "cannot read the value")
        return value
    }

    /// Byte offset of the raw data in the file (contiguous datasets only), or nil if it has none.
    public var rawDataOffset: UInt64? {
        let offset = H5Dget_offset(id)
        return offset == haddr_t.max ? nil : UInt64(offset)
    }
}

func describeType(_ type: hid_t) -> String {
    switch H5Tget_class(type) {
    case H5T_FLOAT: return "float\(H5Tget_size(type) * 8)"
    case H5T_INTEGER: return "int\(H5Tget_size(type) * 8)"
    case H5T_STRING: return "strings"
    default: return "a non-numeric type"
    }
}
