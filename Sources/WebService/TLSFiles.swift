import HummingbirdTLS

/// The PEM certificate chain and private key bc-serve serves HTTPS with.
public struct TLSFiles: Sendable {
    public let certificate: String
    public let key: String

    public init(certificate: String, key: String) {
        (self.certificate, self.key) = (certificate, key)
    }

    /// Reads both files, so that a bad one is reported before the model loads.
    public func check() throws { _ = try configuration() }

    func configuration() throws -> TLSConfiguration {
        let chain: [NIOSSLCertificate], privateKey: NIOSSLPrivateKey
        do { chain = try NIOSSLCertificate.fromPEMFile(certificate) } catch {
            throw ServeSetupError(message: "--tls-cert \(certificate): not a readable PEM certificate (\(error))")
        }
        guard !chain.isEmpty else { throw ServeSetupError(message: "--tls-cert \(certificate): no certificate in the file") }
        do { privateKey = try NIOSSLPrivateKey(file: key, format: .pem) } catch {
            throw ServeSetupError(message: "--tls-key \(key): not a readable PEM private key (\(error))")
        }
        return .makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(privateKey))
    }
}
