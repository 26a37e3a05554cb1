import AsyncHTTPClient
import LucidServices
import NIOCore
import NIOHTTP1

/// Posts webhook deliveries with AsyncHTTPClient's shared client.
public struct HTTPWebhookSender: WebhookSender {
    public init() {}

    public func post(url: String, body: [UInt8], headers: [(String, String)], timeout: Duration) async throws -> Int {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: body))
        let response = try await HTTPClient.shared.execute(request, timeout: .milliseconds(Int64(timeout.components.seconds * 1000)))
        _ = try? await response.body.collect(upTo: 64 * 1024)
        return Int(response.status.code)
    }
}
