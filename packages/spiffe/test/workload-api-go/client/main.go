// An independent SPIFFE Workload API client for interop tests: grpc-go calls SpiffeWorkloadAPI with the
// client protoc-gen-go-grpc generates from the package's workload.proto, and every answer is checked with
// Go's standard library: chains parsed and verified by crypto/x509 against the bundle that came with them,
// PKCS#8 keys matched to their leaf, URI SANs compared with spiffe_id, bundle maps read by trust-domain
// SPIFFE ID, JWT-SVID signatures verified with crypto/ecdsa against the served JWK Set. Nothing of ours is
// on this side of the wire. Built offline in GOPATH mode from Debian's golang-google-grpc-dev and
// golang-google-protobuf-dev.
//
// Flags: -addr unix:///path | tcp://IP:port, -op x509|watch|x509bundles|jwtbundles|jwt|validate|wit,
// -audience a,b, -spiffeid ID, -token JWT, -header VALUE (the security header's value; "-" sends none),
// -count N (messages for watch).
//
// Stdout: one JSON line per result; a failed call prints {"ok":false,"code":N,"details":"..."}.
package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"math/big"
	"net"
	"strings"
	"time"

	"ambientkit/testpeer"
	workload "github.com/spiffe/go-spiffe/v2/proto/spiffe/workload"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Shared with the other Go peers (test-support/gopath/src/ambientkit/testpeer).
var (
	emit = testpeer.Emit
	fail = testpeer.Fail
)

func failed(err error) {
	st, _ := status.FromError(err)
	emit(map[string]interface{}{"ok": false, "code": int(st.Code()), "details": st.Message()})
}

type svidResult struct {
	SpiffeID   string `json:"spiffeId"`
	Hint       string `json:"hint"`
	URI        string `json:"uri"`
	Chain      int    `json:"chain"`
	Serial     string `json:"serial"`
	KeyMatches bool   `json:"keyMatches"`
	Verified   bool   `json:"verified"`
	VerifyErr  string `json:"verifyError,omitempty"`
	KeyType    string `json:"keyType"`
}

func publicKeyOf(key crypto.PrivateKey) crypto.PublicKey {
	if s, ok := key.(crypto.Signer); ok {
		return s.Public()
	}
	return nil
}

func checkSVID(s *workload.X509SVID) svidResult {
	r := svidResult{SpiffeID: s.SpiffeId, Hint: s.Hint}
	certs, err := x509.ParseCertificates(s.X509Svid)
	if err != nil || len(certs) == 0 {
		r.VerifyErr = fmt.Sprintf("chain: %v", err)
		return r
	}
	r.Chain = len(certs)
	leaf := certs[0]
	r.Serial = hex.EncodeToString(leaf.SerialNumber.Bytes())
	if len(leaf.URIs) == 1 {
		r.URI = leaf.URIs[0].String()
	}
	key, err := x509.ParsePKCS8PrivateKey(s.X509SvidKey)
	if err == nil {
		r.KeyType = fmt.Sprintf("%T", key)
		pub, _ := x509.MarshalPKIXPublicKey(publicKeyOf(key))
		leafPub, _ := x509.MarshalPKIXPublicKey(leaf.PublicKey)
		r.KeyMatches = pub != nil && bytes.Equal(pub, leafPub)
	}
	roots, err := x509.ParseCertificates(s.Bundle)
	if err != nil {
		r.VerifyErr = fmt.Sprintf("bundle: %v", err)
		return r
	}
	pool, inter := x509.NewCertPool(), x509.NewCertPool()
	for _, c := range roots {
		pool.AddCert(c)
	}
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	_, err = leaf.Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	r.Verified = err == nil
	if err != nil {
		r.VerifyErr = err.Error()
	}
	return r
}

func countCerts(m map[string][]byte) map[string]int {
	out := map[string]int{}
	for td, der := range m {
		certs, err := x509.ParseCertificates(der)
		if err != nil {
			out[td] = -1
		} else {
			out[td] = len(certs)
		}
	}
	return out
}

type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	D   string `json:"d"`
}

func parseJWKS(raw []byte) (map[string]*ecdsa.PublicKey, []string, error) {
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(raw, &set); err != nil {
		return nil, nil, err
	}
	keys := map[string]*ecdsa.PublicKey{}
	kids := []string{}
	for _, k := range set.Keys {
		if k.D != "" {
			return nil, nil, fmt.Errorf("key %s carries private material", k.Kid)
		}
		kids = append(kids, k.Kid)
		if k.Kty != "EC" || k.Crv != "P-256" {
			continue
		}
		x, err1 := base64.RawURLEncoding.DecodeString(k.X)
		y, err2 := base64.RawURLEncoding.DecodeString(k.Y)
		if err1 != nil || err2 != nil {
			return nil, nil, fmt.Errorf("key %s: bad coordinates", k.Kid)
		}
		pub := &ecdsa.PublicKey{Curve: elliptic.P256(), X: new(big.Int).SetBytes(x), Y: new(big.Int).SetBytes(y)}
		if !pub.Curve.IsOnCurve(pub.X, pub.Y) {
			return nil, nil, fmt.Errorf("key %s: not on the curve", k.Kid)
		}
		keys[k.Kid] = pub
	}
	return keys, kids, nil
}

type jwtResult struct {
	SpiffeID string      `json:"spiffeId"`
	Hint     string      `json:"hint"`
	Sub      string      `json:"sub"`
	Aud      interface{} `json:"aud"`
	Alg      string      `json:"alg"`
	Kid      string      `json:"kid"`
	Verified bool        `json:"verified"`
	Error    string      `json:"error,omitempty"`
	Exp      float64     `json:"exp"`
}

// verifyJWT checks an ES256 JWT-SVID against the JWT bundle of its subject's trust domain.
func verifyJWT(token string, bundles map[string][]byte) jwtResult {
	r := jwtResult{}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		r.Error = "not a compact JWS"
		return r
	}
	var header map[string]interface{}
	var claims map[string]interface{}
	hb, _ := base64.RawURLEncoding.DecodeString(parts[0])
	pb, _ := base64.RawURLEncoding.DecodeString(parts[1])
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	if json.Unmarshal(hb, &header) != nil || json.Unmarshal(pb, &claims) != nil {
		r.Error = "undecodable"
		return r
	}
	r.Alg, _ = header["alg"].(string)
	r.Kid, _ = header["kid"].(string)
	r.Sub, _ = claims["sub"].(string)
	r.Aud = claims["aud"]
	r.Exp, _ = claims["exp"].(float64)
	td := r.Sub
	if i := strings.Index(strings.TrimPrefix(td, "spiffe://"), "/"); i > 0 {
		td = "spiffe://" + strings.TrimPrefix(td, "spiffe://")[:i]
	}
	keys, _, err := parseJWKS(bundles[td])
	if err != nil {
		r.Error = err.Error()
		return r
	}
	pub := keys[r.Kid]
	if pub == nil || r.Alg != "ES256" || len(sig) != 64 {
		r.Error = "no ES256 key for kid " + r.Kid + " in " + td
		return r
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	r.Verified = ecdsa.Verify(pub, digest[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:]))
	return r
}

func dial(addr string) *grpc.ClientConn {
	network, target := "", ""
	switch {
	case strings.HasPrefix(addr, "unix://"):
		network, target = "unix", strings.TrimPrefix(addr, "unix://")
	case strings.HasPrefix(addr, "tcp://"):
		network, target = "tcp", strings.TrimPrefix(addr, "tcp://")
	default:
		fail("bad -addr %q", addr)
	}
	// grpc-go 1.33 has no unix resolver: dial the socket ourselves, as go-spiffe did on such versions.
	conn, err := grpc.Dial("passthrough:///localhost", grpc.WithInsecure(),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, target)
		}))
	if err != nil {
		fail("dial: %v", err)
	}
	return conn
}

func main() {
	addr := flag.String("addr", "", "endpoint")
	op := flag.String("op", "x509", "operation")
	audience := flag.String("audience", "", "comma-separated audiences")
	spiffeID := flag.String("spiffeid", "", "requested SPIFFE ID")
	token := flag.String("token", "", "JWT-SVID to validate")
	header := flag.String("header", "true", `security header value; "-" sends none`)
	count := flag.Int("count", 1, "messages to read (watch)")
	timeout := flag.Duration("timeout", 20*time.Second, "overall deadline")
	flag.Parse()

	conn := dial(*addr)
	defer conn.Close()
	client := workload.NewSpiffeWorkloadAPIClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if *header != "-" {
		ctx = metadata.NewOutgoingContext(ctx, metadata.Pairs("workload.spiffe.io", *header))
	}
	var audiences []string
	if *audience != "" {
		audiences = strings.Split(*audience, ",")
	}

	switch *op {
	case "x509", "watch":
		stream, err := client.FetchX509SVID(ctx, &workload.X509SVIDRequest{})
		if err != nil {
			failed(err)
			return
		}
		for i := 0; i < *count; i++ {
			resp, err := stream.Recv()
			if err != nil {
				failed(err)
				return
			}
			svids := []svidResult{}
			for _, s := range resp.Svids {
				svids = append(svids, checkSVID(s))
			}
			emit(map[string]interface{}{"ok": true, "svids": svids, "federated": countCerts(resp.FederatedBundles)})
		}
	case "x509bundles":
		stream, err := client.FetchX509Bundles(ctx, &workload.X509BundlesRequest{})
		if err != nil {
			failed(err)
			return
		}
		for i := 0; i < *count; i++ {
			resp, err := stream.Recv()
			if err != nil {
				failed(err)
				return
			}
			emit(map[string]interface{}{"ok": true, "bundles": countCerts(resp.Bundles)})
		}
	case "jwtbundles":
		stream, err := client.FetchJWTBundles(ctx, &workload.JWTBundlesRequest{})
		if err != nil {
			failed(err)
			return
		}
		resp, err := stream.Recv()
		if err != nil {
			failed(err)
			return
		}
		kids := map[string][]string{}
		for td, raw := range resp.Bundles {
			_, list, err := parseJWKS(raw)
			if err != nil {
				fail("JWKS of %s: %v", td, err)
			}
			kids[td] = list
		}
		emit(map[string]interface{}{"ok": true, "bundles": kids})
	case "jwt":
		resp, err := client.FetchJWTSVID(ctx, &workload.JWTSVIDRequest{Audience: audiences, SpiffeId: *spiffeID})
		if err != nil {
			failed(err)
			return
		}
		stream, err := client.FetchJWTBundles(ctx, &workload.JWTBundlesRequest{})
		if err != nil {
			failed(err)
			return
		}
		bundles, err := stream.Recv()
		if err != nil {
			failed(err)
			return
		}
		results := []jwtResult{}
		for _, s := range resp.Svids {
			r := verifyJWT(s.Svid, bundles.Bundles)
			r.SpiffeID, r.Hint = s.SpiffeId, s.Hint
			results = append(results, r)
		}
		tokens := []string{}
		for _, s := range resp.Svids {
			tokens = append(tokens, s.Svid)
		}
		emit(map[string]interface{}{"ok": true, "svids": results, "tokens": tokens})
	case "validate":
		aud := ""
		if len(audiences) > 0 {
			aud = audiences[0]
		}
		resp, err := client.ValidateJWTSVID(ctx, &workload.ValidateJWTSVIDRequest{Audience: aud, Svid: *token})
		if err != nil {
			failed(err)
			return
		}
		emit(map[string]interface{}{"ok": true, "spiffeId": resp.SpiffeId, "claims": resp.Claims.AsMap()})
	case "wit":
		stream, err := client.FetchWITSVID(ctx, &workload.WITSVIDRequest{})
		if err != nil {
			failed(err)
			return
		}
		if _, err := stream.Recv(); err != nil {
			failed(err)
			return
		}
		emit(map[string]interface{}{"ok": true})
	default:
		fail("unknown -op %q", *op)
	}
}
