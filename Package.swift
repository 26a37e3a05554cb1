// swift-tools-version:6.2
import PackageDescription

/// Strict by default: Swift 6 language mode, explicit existentials, and no
/// implicit re-exports, the way Hummingbird itself builds.
/// Test targets share them but not warnings-as-errors: Swift Testing's macros
/// expand to code that warns on this toolchain.
let testSwiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]
var swiftSettings = testSwiftSettings
// CI (scripts/test.sh) turns warnings into errors for our own library and tool targets.
if Context.environment["LUCID_WARNINGS_AS_ERRORS"] == "1" {
    swiftSettings.append(.unsafeFlags(["-warnings-as-errors"]))
}

let package = Package(
    name: "LucidWallet",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "lucid", targets: ["lucid"]),
        .library(name: "LucidCore", targets: ["LucidCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.1"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
    ],
    targets: [
        // Pure domain: money, IDs, ledger rules, fees, limits, errors. No I/O.
        .target(
            name: "LucidCore",
            dependencies: [],
            swiftSettings: swiftSettings
        ),
        // Risk engine: incremental features, a YAML rule language, decisions with explanations,
        // shadow mode, backtest and a traffic simulator. Pure values and functions: no I/O except
        // reading rules text the caller hands in (and the bundled default rules).
        .target(
            name: "LucidRisk",
            dependencies: ["LucidCore", .product(name: "Yams", package: "Yams")],
            resources: [.copy("Resources/default-rules.yaml")],
            swiftSettings: swiftSettings
        ),
        // Persistence: the store protocol and its SQLite (GRDB) implementation.
        .target(
            name: "LucidStore",
            dependencies: [
                "LucidCore",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // Payment rails: the bank / processor port, a sandbox bank with fault injection (in process and
        // over HTTP), resilience (timeouts, retries, circuit breakers), callback signatures, settlement
        // reports and reconciliation.
        .target(
            name: "LucidGateway",
            dependencies: [
                "LucidCore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // Use cases: one entry point per operation, wiring core + store + gateway + clock.
        .target(
            name: "LucidServices",
            dependencies: [
                "LucidCore",
                "LucidStore",
                "LucidGateway",
                "LucidRisk",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            exclude: ["Resources/README.md"],
            // The common-password list, loaded lazily through Bundle.module.
            resources: [.copy("Resources/common-passwords.txt")],
            swiftSettings: swiftSettings
        ),
        // HTTP edge: routes, authentication, problem+json, OpenAPI, metrics.
        .target(
            name: "LucidHTTP",
            dependencies: [
                "LucidCore",
                "LucidStore",
                "LucidServices",
                "LucidGateway",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "lucid",
            dependencies: [
                "LucidCore",
                "LucidStore",
                "LucidServices",
                "LucidHTTP",
                "LucidRisk",
                "LucidGateway",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "LucidCoreTests",
            dependencies: ["LucidCore", .product(name: "PropertyBased", package: "swift-property-based")],
            swiftSettings: testSwiftSettings
        ),
        .testTarget(
            name: "LucidRiskTests",
            dependencies: ["LucidCore", "LucidRisk"],
            swiftSettings: testSwiftSettings
        ),
        .testTarget(
            name: "LucidStoreTests",
            dependencies: [
                "LucidCore", "LucidStore",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            swiftSettings: testSwiftSettings
        ),
        .testTarget(
            name: "LucidServicesTests",
            dependencies: [
                "LucidCore", "LucidServices",
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            swiftSettings: testSwiftSettings
        ),
        .testTarget(
            name: "LucidGatewayTests",
            dependencies: [
                "LucidCore", "LucidGateway",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: testSwiftSettings
        ),
        .testTarget(
            name: "LucidHTTPTests",
            dependencies: [
                "LucidCore", "LucidStore", "LucidServices", "LucidHTTP", "LucidGateway", "LucidRisk",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: testSwiftSettings
        ),
    ]
)
