import Crypto
import Foundation
import Testing

@testable import Cellbase

/// Signature Version 4 against the examples AWS publishes for S3 (examplebucket, the example
/// credentials, 24 May 2013), and the URLs and XML of the S3 backend. No I/O.
@Suite("S3 signing and addressing")
struct S3SignatureTests {
    let signer = SignatureV4(accessKeyID: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", region: "us-east-1")
    let dateTime = "20130524T000000Z"
    let day = "20130524"

    var getObject: SignatureV4.Request {
        SignatureV4.Request(
            method: "GET", path: "/test.txt", query: [],
            headers: [
                ("Host", "examplebucket.s3.amazonaws.com"), ("Range", "bytes=0-9"),
                ("x-amz-content-sha256", SignatureV4.emptyPayloadHash), ("x-amz-date", dateTime),
            ],
            payloadHash: SignatureV4.emptyPayloadHash
        )
    }

    @Test func theEmptyPayloadHashIsSHA256OfNothing() {
        #expect(SignatureV4.emptyPayloadHash == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    @Test func getObjectCanonicalRequest() {
        #expect(SignatureV4.canonicalRequest(getObject) == """
            GET
            /test.txt

            host:examplebucket.s3.amazonaws.com
            range:bytes=0-9
            x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
            x-amz-date:20130524T000000Z

            host;range;x-amz-content-sha256;x-amz-date
            e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
            """)
    }

    @Test func getObjectStringToSign() {
        #expect(signer.stringToSign(getObject, dateTime: dateTime, day: day) == """
            AWS4-HMAC-SHA256
            20130524T000000Z
            20130524/us-east-1/s3/aws4_request
            7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972
            """)
    }

    @Test func getObjectAuthorization() {
        #expect(signer.authorization(getObject, dateTime: dateTime, day: day) == "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
    }

    @Test func putObjectSignsTheBodyHashAndAnEncodedPath() {
        let body = "Welcome to Amazon S3."
        let hash = SignatureV4.hexSHA256(Array(body.utf8))
        #expect(hash == "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072")
        let request = SignatureV4.Request(
            method: "PUT", path: "/" + SignatureV4.uriEncode("test$file.text", slash: false), query: [],
            headers: [
                ("Host", "examplebucket.s3.amazonaws.com"), ("Date", "Fri, 24 May 2013 00:00:00 GMT"),
                ("x-amz-date", dateTime), ("x-amz-storage-class", "REDUCED_REDUNDANCY"), ("x-amz-content-sha256", hash),
            ],
            payloadHash: hash
        )
        #expect(request.path == "/test%24file.text")
        #expect(signer.signature(request, dateTime: dateTime, day: day) == "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd")
    }

    @Test func listObjectsSignsASortedQuery() {
        let request = SignatureV4.Request(
            method: "GET", path: "/", query: [("prefix", "J"), ("max-keys", "2")],
            headers: [("Host", "examplebucket.s3.amazonaws.com"), ("x-amz-date", dateTime), ("x-amz-content-sha256", SignatureV4.emptyPayloadHash)],
            payloadHash: SignatureV4.emptyPayloadHash
        )
        #expect(SignatureV4.canonicalQuery(request.query) == "max-keys=2&prefix=J")
        #expect(signer.signature(request, dateTime: dateTime, day: day) == "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7")
    }

    @Test func aChangedSecretOrRegionChangesTheSignature() {
        let reference = signer.signature(getObject, dateTime: dateTime, day: day)
        var other = signer
        other.secretAccessKey += "x"
        #expect(other.signature(getObject, dateTime: dateTime, day: day) != reference)
        other = signer
        other.region = "eu-west-1"
        #expect(other.signature(getObject, dateTime: dateTime, day: day) != reference)
    }

    @Test func headersAreTrimmedAndMergedByName() {
        let headers = SignatureV4.canonicalHeaders([("X-Amz-Meta-A", "  one   two "), ("host", "h"), ("x-amz-meta-a", "three")])
        #expect(headers.lines == "host:h\nx-amz-meta-a:one two,three\n")
        #expect(headers.signed == "host;x-amz-meta-a")
    }

    @Test func uriEncodingKeepsOnlyUnreservedCharacters() {
        #expect(SignatureV4.uriEncode("a b/c~d_e.f-g+é", slash: false) == "a%20b/c~d_e.f-g%2B%C3%A9")
        #expect(SignatureV4.uriEncode("a/b=c&", slash: true) == "a%2Fb%3Dc%26")
        #expect(SignatureV4.canonicalQuery([("uploads", "")]) == "uploads=")
        #expect(SignatureV4.canonicalQuery([("uploadId", "a/b"), ("partNumber", "2")]) == "partNumber=2&uploadId=a%2Fb")
    }

    @Test func timestampsAreUTC() {
        let (dateTime, day) = SignatureV4.timestamps(Date(timeIntervalSince1970: 1_369_353_600))
        #expect(dateTime == "20130524T000000Z")
        #expect(day == "20130524")
        #expect(SignatureV4.timestamps(Date(timeIntervalSince1970: 1_700_000_001)).dateTime == "20231114T221321Z")
    }

    @Test func pathStyleAddressing() throws {
        let address = try S3Address(endpoint: "http://127.0.0.1:9000", bucket: "media", addressing: .path)
        #expect(address.host == "127.0.0.1:9000")
        #expect(address.path(key: "ref/v1") == "/media/ref/v1")
        #expect(address.path(key: nil) == "/media")
        #expect(address.url(path: address.path(key: "ref/v1"), query: [("uploads", "")]) == "http://127.0.0.1:9000/media/ref/v1?uploads=")
    }

    @Test func virtualHostedAddressing() throws {
        let address = try S3Address(endpoint: "https://s3.eu-west-1.amazonaws.com:443/", bucket: "media", addressing: .virtual)
        #expect(address.host == "media.s3.eu-west-1.amazonaws.com")
        #expect(address.path(key: "ref/a b") == "/ref/a%20b")
        #expect(address.path(key: nil) == "/")
        #expect(address.url(path: "/ref/v1", query: [("partNumber", "1"), ("uploadId", "x")]) == "https://media.s3.eu-west-1.amazonaws.com/ref/v1?partNumber=1&uploadId=x")
    }

    @Test(arguments: ["ftp://host", "http://host/prefix", "host:9000", "http://user@host", "http://host?a=b", ""])
    func endpointsWithoutAPlainHostAreRefused(_ endpoint: String) {
        #expect(throws: S3Address.InvalidEndpoint.self) { try S3Address(endpoint: endpoint, bucket: "b", addressing: .path) }
    }

    @Test func xmlAnswers() throws {
        let error = "<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code><Message>The key &lt;x&gt; does not exist</Message></Error>"
        #expect(S3XML.element("Code", in: error) == "NoSuchKey")
        #expect(S3XML.element("Message", in: error) == "The key <x> does not exist")
        #expect(S3XML.element("UploadId", in: error) == nil)
        #expect(throws: S3Failure.answer(status: 200, code: "InternalError")) {
            try S3XML.check("<Error><Code>InternalError</Code></Error>", status: 200)
        }
        try S3XML.check("<CompleteMultipartUploadResult><ETag>\"x-2\"</ETag></CompleteMultipartUploadResult>", status: 200)
        #expect(S3XML.completeMultipartUpload(parts: ["\"a\"", "\"b\""]) == "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Part><PartNumber>1</PartNumber><ETag>&quot;a&quot;</ETag></Part><Part><PartNumber>2</PartNumber><ETag>&quot;b&quot;</ETag></Part></CompleteMultipartUpload>")
    }
}
