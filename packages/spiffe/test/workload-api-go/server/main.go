// An independent SPIFFE Workload API server for interop tests: grpc-go serves SpiffeWorkloadAPI on a Unix
// socket with the messages protoc-gen-go and protoc-gen-go-grpc generate from the package's workload.proto;
// every encoding (DER chains, PKCS#8 keys, bundle maps keyed by the trust domain's SPIFFE ID, JWK Sets,
// ES256 JWT-SVIDs) is done here with Go's standard library. Nothing of ours is on this side of the wire.
// Built offline in GOPATH mode from Debian's golang-google-grpc-dev and golang-google-protobuf-dev.
//
// Flags: -socket PATH (the Unix socket), -state FILE (the JSON state below).
//
// Stdin, one JSON command per line:
//
//	{"op":"state","path":"FILE"}   load a new state and push it to every open stream
//	{"op":"stop"}                  stop serving (in-flight streams end) and exit
//
// Stdout, one JSON event per line: {"event":"listening"}, then
// {"event":"call","method":"FetchX509SVID","header":["true"]} for every call (the values of the
// workload.spiffe.io header it carried) and {"event":"pushed","streams":N} after a state change.
package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io/ioutil"
	"math/big"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"ambientkit/testpeer"
	workload "github.com/spiffe/go-spiffe/v2/proto/spiffe/workload"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
)

type svidState struct {
	SpiffeID  string `json:"spiffeId"`
	ChainPEM  string `json:"chainPem"`
	KeyPEM    string `json:"keyPem"`
	BundlePEM string `json:"bundlePem"`
	Hint      string `json:"hint"`
}

type jwtState struct {
	TrustDomain string `json:"trustDomain"`
	Kid         string `json:"kid"`
	KeyPEM      string `json:"keyPem"`
}

type state struct {
	// normal | permission-denied | unavailable
	Mode       string            `json:"mode"`
	SVIDs      []svidState       `json:"svids"`
	Federated  map[string]string `json:"federated"`
	JWT        *jwtState         `json:"jwt"`
	JWTBundles map[string]string `json:"jwtBundles"`
}

// Shared with the other Go peers (test-support/gopath/src/ambientkit/testpeer).
var (
	emit = testpeer.Emit
	fail = testpeer.Fail
)

func pemBlocks(text, label string) ([][]byte, error) {
	var ders [][]byte
	rest := []byte(text)
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != label {
			return nil, fmt.Errorf("unexpected PEM block %q", block.Type)
		}
		ders = append(ders, block.Bytes)
	}
	return ders, nil
}

// certsDER parses PEM certificates with crypto/x509 and concatenates their DER.
func certsDER(text string) ([]byte, error) {
	blocks, err := pemBlocks(text, "CERTIFICATE")
	if err != nil {
		return nil, err
	}
	var der []byte
	for _, b := range blocks {
		cert, err := x509.ParseCertificate(b)
		if err != nil {
			return nil, err
		}
		der = append(der, cert.Raw...)
	}
	return der, nil
}

func privateKey(text string) (interface{}, error) {
	block, _ := pem.Decode([]byte(text))
	if block == nil {
		return nil, errors.New("no PEM key")
	}
	if key, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		return key, nil
	}
	return x509.ParseECPrivateKey(block.Bytes)
}

type compiled struct {
	mode      string
	x509      *workload.X509SVIDResponse
	bundles   *workload.X509BundlesResponse
	jwtKey    *ecdsa.PrivateKey
	jwtKid    string
	jwtTD     string
	jwtJWKS   map[string][]byte
	svidIDs   []string
	svidHints []string
}

func jwkOf(pub *ecdsa.PublicKey, kid string) map[string]string {
	size := (pub.Curve.Params().BitSize + 7) / 8
	pad := func(n *big.Int) string {
		b := n.Bytes()
		full := make([]byte, size)
		copy(full[size-len(b):], b)
		return base64.RawURLEncoding.EncodeToString(full)
	}
	return map[string]string{"kty": "EC", "crv": pub.Curve.Params().Name, "x": pad(pub.X), "y": pad(pub.Y), "kid": kid}
}

func compile(s *state) (*compiled, error) {
	c := &compiled{mode: s.Mode, jwtJWKS: map[string][]byte{}}
	c.x509 = &workload.X509SVIDResponse{FederatedBundles: map[string][]byte{}}
	c.bundles = &workload.X509BundlesResponse{Bundles: map[string][]byte{}}
	for _, sv := range s.SVIDs {
		chain, err := certsDER(sv.ChainPEM)
		if err != nil {
			return nil, fmt.Errorf("chain: %v", err)
		}
		key, err := privateKey(sv.KeyPEM)
		if err != nil {
			return nil, fmt.Errorf("key: %v", err)
		}
		pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, err
		}
		bundle, err := certsDER(sv.BundlePEM)
		if err != nil {
			return nil, fmt.Errorf("bundle: %v", err)
		}
		c.x509.Svids = append(c.x509.Svids, &workload.X509SVID{
			SpiffeId: sv.SpiffeID, X509Svid: chain, X509SvidKey: pkcs8, Bundle: bundle, Hint: sv.Hint,
		})
		c.svidIDs = append(c.svidIDs, sv.SpiffeID)
		c.svidHints = append(c.svidHints, sv.Hint)
		// The SVID's own trust domain, keyed by its SPIFFE ID (spiffe://td).
		if i := strings.Index(strings.TrimPrefix(sv.SpiffeID, "spiffe://"), "/"); i > 0 {
			c.bundles.Bundles["spiffe://"+strings.TrimPrefix(sv.SpiffeID, "spiffe://")[:i]] = bundle
		}
	}
	for td, text := range s.Federated {
		der, err := certsDER(text)
		if err != nil {
			return nil, fmt.Errorf("federated %s: %v", td, err)
		}
		c.x509.FederatedBundles[td] = der
		c.bundles.Bundles[td] = der
	}
	if s.JWT != nil {
		key, err := privateKey(s.JWT.KeyPEM)
		if err != nil {
			return nil, err
		}
		ec, ok := key.(*ecdsa.PrivateKey)
		if !ok || ec.Curve != elliptic.P256() {
			return nil, errors.New("the JWT key must be EC P-256")
		}
		c.jwtKey, c.jwtKid, c.jwtTD = ec, s.JWT.Kid, s.JWT.TrustDomain
		jwks, _ := json.Marshal(map[string]interface{}{"keys": []interface{}{jwkOf(&ec.PublicKey, s.JWT.Kid)}})
		c.jwtJWKS[s.JWT.TrustDomain] = jwks
	}
	for td, jwks := range s.JWTBundles {
		c.jwtJWKS[td] = []byte(jwks)
	}
	return c, nil
}

type server struct {
	workload.UnimplementedSpiffeWorkloadAPIServer
	mu      sync.Mutex
	current *compiled
	waiters map[chan struct{}]struct{}
}

func (s *server) get() *compiled {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.current
}

func (s *server) set(c *compiled) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.current = c
	n := 0
	for w := range s.waiters {
		select {
		case w <- struct{}{}:
		default:
		}
		n++
	}
	return n
}

func (s *server) subscribe() (chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	s.mu.Lock()
	s.waiters[ch] = struct{}{}
	s.mu.Unlock()
	return ch, func() {
		s.mu.Lock()
		delete(s.waiters, ch)
		s.mu.Unlock()
	}
}

// checkHeader logs the call and applies SPIFFE_Workload_Endpoint.md section 3 as SPIRE does: exactly one
// value, exactly "true".
func checkHeader(ctx context.Context, method string) error {
	md, _ := metadata.FromIncomingContext(ctx)
	values := md.Get("workload.spiffe.io")
	if values == nil {
		values = []string{}
	}
	emit(map[string]interface{}{"event": "call", "method": method, "header": values})
	if len(values) != 1 || values[0] != "true" {
		return status.Error(codes.InvalidArgument, "security header missing from request")
	}
	return nil
}

func modeError(c *compiled) error {
	switch c.mode {
	case "permission-denied":
		return status.Error(codes.PermissionDenied, "no identity issued")
	case "unavailable":
		return status.Error(codes.Unavailable, "not ready")
	}
	return nil
}

func (s *server) FetchX509SVID(_ *workload.X509SVIDRequest, stream workload.SpiffeWorkloadAPI_FetchX509SVIDServer) error {
	if err := checkHeader(stream.Context(), "FetchX509SVID"); err != nil {
		return err
	}
	updates, done := s.subscribe()
	defer done()
	for {
		c := s.get()
		if err := modeError(c); err != nil {
			return err
		}
		if err := stream.Send(c.x509); err != nil {
			return err
		}
		select {
		case <-updates:
		case <-stream.Context().Done():
			return nil
		}
	}
}

func (s *server) FetchX509Bundles(_ *workload.X509BundlesRequest, stream workload.SpiffeWorkloadAPI_FetchX509BundlesServer) error {
	if err := checkHeader(stream.Context(), "FetchX509Bundles"); err != nil {
		return err
	}
	updates, done := s.subscribe()
	defer done()
	for {
		c := s.get()
		if err := modeError(c); err != nil {
			return err
		}
		if err := stream.Send(c.bundles); err != nil {
			return err
		}
		select {
		case <-updates:
		case <-stream.Context().Done():
			return nil
		}
	}
}

func (s *server) FetchJWTBundles(_ *workload.JWTBundlesRequest, stream workload.SpiffeWorkloadAPI_FetchJWTBundlesServer) error {
	if err := checkHeader(stream.Context(), "FetchJWTBundles"); err != nil {
		return err
	}
	updates, done := s.subscribe()
	defer done()
	for {
		c := s.get()
		if err := modeError(c); err != nil {
			return err
		}
		if err := stream.Send(&workload.JWTBundlesResponse{Bundles: c.jwtJWKS}); err != nil {
			return err
		}
		select {
		case <-updates:
		case <-stream.Context().Done():
			return nil
		}
	}
}

func b64(data []byte) string { return base64.RawURLEncoding.EncodeToString(data) }

func signES256(key *ecdsa.PrivateKey, kid string, claims map[string]interface{}) (string, error) {
	header, _ := json.Marshal(map[string]string{"alg": "ES256", "kid": kid, "typ": "JWT"})
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	input := b64(header) + "." + b64(payload)
	digest := sha256.Sum256([]byte(input))
	r, sv, err := ecdsa.Sign(rand.Reader, key, digest[:])
	if err != nil {
		return "", err
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	sv.FillBytes(sig[32:])
	return input + "." + b64(sig), nil
}

func (s *server) FetchJWTSVID(ctx context.Context, req *workload.JWTSVIDRequest) (*workload.JWTSVIDResponse, error) {
	if err := checkHeader(ctx, "FetchJWTSVID"); err != nil {
		return nil, err
	}
	if len(req.Audience) == 0 {
		return nil, status.Error(codes.InvalidArgument, "audience must be specified")
	}
	c := s.get()
	if err := modeError(c); err != nil {
		return nil, err
	}
	if c.jwtKey == nil {
		return nil, status.Error(codes.Unimplemented, "no JWT key")
	}
	resp := &workload.JWTSVIDResponse{}
	now := time.Now()
	for i, id := range c.svidIDs {
		if req.SpiffeId != "" && req.SpiffeId != id {
			continue
		}
		token, err := signES256(c.jwtKey, c.jwtKid, map[string]interface{}{
			"sub": id, "aud": req.Audience, "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
		})
		if err != nil {
			return nil, status.Error(codes.Internal, err.Error())
		}
		resp.Svids = append(resp.Svids, &workload.JWTSVID{SpiffeId: id, Svid: token, Hint: c.svidHints[i]})
	}
	if len(resp.Svids) == 0 {
		return nil, status.Error(codes.PermissionDenied, "no identity issued")
	}
	return resp, nil
}

func (s *server) ValidateJWTSVID(ctx context.Context, req *workload.ValidateJWTSVIDRequest) (*workload.ValidateJWTSVIDResponse, error) {
	if err := checkHeader(ctx, "ValidateJWTSVID"); err != nil {
		return nil, err
	}
	if req.Audience == "" {
		return nil, status.Error(codes.InvalidArgument, "audience must be specified")
	}
	if req.Svid == "" {
		return nil, status.Error(codes.InvalidArgument, "svid must be specified")
	}
	c := s.get()
	if c.jwtKey == nil {
		return nil, status.Error(codes.InvalidArgument, "no JWT key to validate with")
	}
	parts := strings.Split(req.Svid, ".")
	if len(parts) != 3 {
		return nil, status.Error(codes.InvalidArgument, "unable to parse JWT token")
	}
	var header map[string]interface{}
	var claims map[string]interface{}
	hb, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	pb, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil || json.Unmarshal(hb, &header) != nil || json.Unmarshal(pb, &claims) != nil {
		return nil, status.Error(codes.InvalidArgument, "unable to parse JWT token")
	}
	if header["alg"] != "ES256" || header["kid"] != c.jwtKid || len(sig) != 64 {
		return nil, status.Error(codes.InvalidArgument, "unknown key or algorithm")
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if !ecdsa.Verify(&c.jwtKey.PublicKey, digest[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		return nil, status.Error(codes.InvalidArgument, "bad signature")
	}
	exp, _ := claims["exp"].(float64)
	if int64(exp) <= time.Now().Unix() {
		return nil, status.Error(codes.InvalidArgument, "token has expired")
	}
	found := false
	switch aud := claims["aud"].(type) {
	case string:
		found = aud == req.Audience
	case []interface{}:
		for _, a := range aud {
			found = found || a == req.Audience
		}
	}
	if !found {
		return nil, status.Error(codes.InvalidArgument, "audience mismatch")
	}
	sub, _ := claims["sub"].(string)
	st, err := structpb.NewStruct(claims)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	return &workload.ValidateJWTSVIDResponse{SpiffeId: sub, Claims: st}, nil
}

func load(path string) *compiled {
	raw, err := ioutil.ReadFile(path)
	if err != nil {
		fail("read state: %v", err)
	}
	var s state
	if err := json.Unmarshal(raw, &s); err != nil {
		fail("parse state: %v", err)
	}
	c, err := compile(&s)
	if err != nil {
		fail("state: %v", err)
	}
	return c
}

func main() {
	socket := flag.String("socket", "", "Unix socket path")
	statePath := flag.String("state", "", "state file")
	flag.Parse()
	srv := &server{current: load(*statePath), waiters: map[chan struct{}]struct{}{}}
	_ = os.Remove(*socket)
	lis, err := net.Listen("unix", *socket)
	if err != nil {
		fail("listen: %v", err)
	}
	g := grpc.NewServer()
	workload.RegisterSpiffeWorkloadAPIServer(g, srv)
	go func() { _ = g.Serve(lis) }()
	emit(map[string]string{"event": "listening"})

	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<20)
	for in.Scan() {
		var cmd struct {
			Op   string `json:"op"`
			Path string `json:"path"`
		}
		if err := json.Unmarshal(in.Bytes(), &cmd); err != nil {
			fail("bad command %q: %v", in.Text(), err)
		}
		switch cmd.Op {
		case "state":
			n := srv.set(load(cmd.Path))
			emit(map[string]interface{}{"event": "pushed", "streams": n})
		case "stop":
			g.Stop()
			return
		default:
			fail("unknown op %q", cmd.Op)
		}
	}
	g.Stop()
}
