import CDNNL
import CHDF5
import CMPI
import CPNG
import CSupport
import Foundation
import XCTest

/// Each system library links, and its shimmed macros work, from Swift.
final class SystemLibrariesTests: XCTestCase {
    /// MPI may be initialised once per process and other test classes use it too: initialise it here only if
    /// nobody has, and finalise it at exit.
    func testOpenMPISingletonAllreduce() {
        var initialized: Int32 = 0
        MPI_Initialized(&initialized)
        if initialized == 0 {
            var provided: Int32 = 0
            XCTAssertEqual(MPI_Init_thread(nil, nil, cmpi_thread_funneled(), &provided), cmpi_success())
            XCTAssertGreaterThanOrEqual(provided, cmpi_thread_funneled())
            atexit { MPI_Finalize() }
        }
        var size: Int32 = 0, rank: Int32 = -1
        MPI_Comm_size(cmpi_comm_world(), &size)
        MPI_Comm_rank(cmpi_comm_world(), &rank)
        XCTAssertEqual(size, 1)
        XCTAssertEqual(rank, 0)
        var values: [Float] = [1.5, -2, 4]
        XCTAssertEqual(MPI_Allreduce(cmpi_in_place(), &values, 3, cmpi_float(), cmpi_sum(), cmpi_comm_world()), cmpi_success())
        XCTAssertEqual(values, [1.5, -2, 4])
    }

    func testHDF5WritesAndReadsADatasetAndAVariableLengthAttribute() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("bc-smoke-\(getpid()).h5").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let file = H5Fcreate(path, chdf5_acc_trunc(), hid_t(H5P_DEFAULT), hid_t(H5P_DEFAULT))
        XCTAssertGreaterThanOrEqual(file, 0)
        var dims: [hsize_t] = [2, 3]
        let space = H5Screate_simple(2, &dims, nil)
        let dataset = H5Dcreate2(file, "weights", chdf5_ieee_f32le(), space, hid_t(H5P_DEFAULT), hid_t(H5P_DEFAULT), hid_t(H5P_DEFAULT))
        let written: [Float] = [1, 2, 3, 4, 5, 6]
        XCTAssertGreaterThanOrEqual(H5Dwrite(dataset, chdf5_native_float(), 0, 0, hid_t(H5P_DEFAULT), written), 0)

        let stringType = H5Tcopy(chdf5_c_s1())
        H5Tset_size(stringType, chdf5_variable())
        let scalar = H5Screate(H5S_SCALAR)
        let attribute = H5Acreate2(dataset, "note", stringType, scalar, hid_t(H5P_DEFAULT), hid_t(H5P_DEFAULT))
        "keras".withCString { text in
            var pointer: UnsafePointer<CChar>? = text
            XCTAssertGreaterThanOrEqual(H5Awrite(attribute, stringType, &pointer), 0)
        }
        var read = [Float](repeating: 0, count: 6)
        XCTAssertGreaterThanOrEqual(H5Dread(dataset, chdf5_native_float(), 0, 0, hid_t(H5P_DEFAULT), &read), 0)
        XCTAssertEqual(read, written)
        var readPointer: UnsafeMutablePointer<CChar>?
        XCTAssertGreaterThanOrEqual(H5Aread(attribute, stringType, &readPointer), 0)
        XCTAssertEqual(readPointer.map { String(cString: $0) }, "keras")
        free(readPointer)
        H5Aclose(attribute); H5Sclose(scalar); H5Tclose(stringType); H5Dclose(dataset); H5Sclose(space)
        XCTAssertGreaterThanOrEqual(H5Fclose(file), 0)
    }

    func testLibPNGRoundTripsAnImageInMemory() throws {
        XCTAssertEqual(String(cString: png_get_libpng_ver(nil)), String(cString: cpng_header_version()))
        let pixels: [UInt8] = [255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30]  // 2x2 RGB
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        image.width = 2; image.height = 2; image.format = UInt32(PNG_FORMAT_RGB)
        var size: png_alloc_size_t = 0
        XCTAssertNotEqual(png_image_write_to_memory(&image, nil, &size, 0, pixels, 0, nil), 0)
        var encoded = [UInt8](repeating: 0, count: Int(size))
        XCTAssertNotEqual(png_image_write_to_memory(&image, &encoded, &size, 0, pixels, 0, nil), 0)

        var decoded = png_image()
        decoded.version = UInt32(PNG_IMAGE_VERSION)
        XCTAssertNotEqual(png_image_begin_read_from_memory(&decoded, encoded, Int(size)), 0)
        decoded.format = UInt32(PNG_FORMAT_RGB)
        var out = [UInt8](repeating: 0, count: 12)
        XCTAssertNotEqual(png_image_finish_read(&decoded, nil, &out, 0, nil), 0)
        XCTAssertEqual(out, pixels)
    }

    func testOneDNNReportsItsVersionAndCreatesAnEngine() {
        let version = dnnl_version()!.pointee
        XCTAssertEqual(version.major, 2)
        var engine: dnnl_engine_t?
        XCTAssertEqual(dnnl_engine_create(&engine, dnnl_cpu, 0), dnnl_success)
        XCTAssertEqual(dnnl_engine_destroy(engine), dnnl_success)
        omp_set_num_threads(1)
        XCTAssertEqual(omp_get_max_threads(), 1)
    }

    func testStopSignalSetsTheFlagOnly() {
        csupport_clear_stop_request()
        csupport_install_stop_handlers()
        XCTAssertEqual(csupport_stop_requested(), 0)
        raise(SIGUSR1)
        XCTAssertEqual(csupport_stop_requested(), SIGUSR1)
        csupport_clear_stop_request()
        XCTAssertEqual(csupport_stop_requested(), 0)
    }
}
