import Hummingbird
import NIOCore
import Logging
import LucidCore
import LucidServices

/// Per-request state: the request id, the reader's language, and who is
/// signed in (set by the authentication middleware of the route group).
public struct LucidContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public var requestID: String = ""
    public var language: Language = .en
    public var customer: Customer?
    public var operatorIdentity: Operator?
    /// The peer's IP address (the edge proxy's when Lucid runs behind one).
    public let remoteAddress: String?
    /// Source address, country and user agent as the edge reported them (set by `ProblemMiddleware`).
    public var origin = RequestOrigin.unknown

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress?.ipAddress
    }

    /// Bodies are read with `InputLimits.requestBodyBytesMax` by `JSONBody`; this is the hard stop.
    public var maxUploadSize: Int { InputLimits.requestBodyBytesMax }

    /// The signed-in customer; routes behind `CustomerAuthMiddleware` always have one.
    public func requireCustomer() throws(LucidError) -> Customer {
        guard let customer else { throw LucidError(.unauthenticated) }
        return customer
    }

    public func requireOperator() throws(LucidError) -> Operator {
        guard let operatorIdentity else { throw LucidError(.unauthenticated) }
        return operatorIdentity
    }
}
