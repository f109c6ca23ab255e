import Hummingbird
import NIOConcurrencyHelpers
import NIOCore

/// Hummingbird's request context plus what bc-serve's request log needs: the client's address, and a line a
/// handler may leave about what the request did (files, calls).
public struct ServeRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?
    let outcome = RequestOutcome()

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }
}

/// Shared by every copy of one request's context, so the log written after the handler sees what it left.
final class RequestOutcome: Sendable {
    private let text = NIOLockedValueBox<String?>(nil)

    var summary: String? {
        get { text.withLockedValue { $0 } }
        set { text.withLockedValue { $0 = newValue } }
    }
}
