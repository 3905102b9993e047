// An independent peer of the Istio CA protocol for interop tests, on grpc-go and protobuf-go with no
// generated code: message definitions come from a descriptor set protoc compiles out of
// packages/spiffe/proto (dynamicpb), certificates and CSRs from Go's crypto/x509. Built offline in GOPATH
// mode from Debian's golang-google-grpc-dev and golang-google-protobuf-dev.
//
// -mode server: an istiod-like CA. It prints {"event":"listening","port":N}, then one
// {"event":"request",...} line per call with what arrived on the wire (metadata, the CSR as Go parses it,
// validity_duration, the ImpersonatedIdentity Struct field), and answers: UNAUTHENTICATED for a bearer
// token other than -token, the status -fail-code if set, UNAUTHENTICATED for impersonation unless
// -allow-impersonation, else a leaf for the impersonated identity or -caller-id (or -sign-as, to misbehave),
// chain [leaf, ca-cert, root], each ending with "\n".
//
// -mode client: a ztunnel-like client. It makes a P-256 CSR for -csr-id, calls CreateCertificate on -addr
// over TLS verified against -root (server name -server-name) with -token, -cluster and -impersonate, and
// prints one JSON line: the status, and for a success the chain as received, the leaf's URIs, and whether
// the chain verifies to the root.
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"flag"
	"io/ioutil"
	"math/big"
	"net"
	"net/url"
	"strings"
	"time"

	"ambientkit/testpeer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

const method = "/istio.v1.auth.IstioCertificateService/CreateCertificate"

var (
	requestDesc  protoreflect.MessageDescriptor
	responseDesc protoreflect.MessageDescriptor
	valueDesc    protoreflect.MessageDescriptor
)

// Shared with the other Go peers (test-support/gopath/src/ambientkit/testpeer).
var (
	fail  = testpeer.Fail
	emit  = testpeer.Emit
	field = testpeer.Field
)

func loadDescriptors(path string) {
	find := testpeer.Descriptors(path)
	requestDesc = find("istio.v1.auth.IstioCertificateRequest")
	responseDesc = find("istio.v1.auth.IstioCertificateResponse")
	valueDesc = find("google.protobuf.Value")
}

func readPEM(path string) []byte {
	b, err := ioutil.ReadFile(path)
	if err != nil {
		fail("read %s: %v", path, err)
	}
	return b
}

func parseCert(pemBytes []byte) *x509.Certificate {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		fail("no PEM block")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		fail("parse certificate: %v", err)
	}
	return c
}

func parseKey(pemBytes []byte) interface{} {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		fail("no PEM key block")
	}
	if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		return k
	}
	if k, err := x509.ParseECPrivateKey(block.Bytes); err == nil {
		return k
	}
	k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
	if err != nil {
		fail("parse key: %v", err)
	}
	return k
}

// The CSR as Go reads it: what a CA on the other side of the wire would see.
type csrInfo struct {
	Parsed         bool     `json:"parsed"`
	SignatureValid bool     `json:"signatureValid"`
	SubjectEmpty   bool     `json:"subjectEmpty"`
	URIs           []string `json:"uris"`
	DNSNames       []string `json:"dnsNames"`
	Extensions     int      `json:"extensions"`
	SANCritical    bool     `json:"sanCritical"`
	KeyCurve       string   `json:"keyCurve"`
	SignatureAlg   string   `json:"signatureAlgorithm"`
}

var oidSAN = asn1.ObjectIdentifier{2, 5, 29, 17}

func inspectCSR(text string) (*x509.CertificateRequest, csrInfo) {
	info := csrInfo{URIs: []string{}, DNSNames: []string{}}
	block, _ := pem.Decode([]byte(text))
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, info
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, info
	}
	info.Parsed = true
	info.SignatureValid = csr.CheckSignature() == nil
	info.SubjectEmpty = len(csr.Subject.Names) == 0
	for _, u := range csr.URIs {
		info.URIs = append(info.URIs, u.String())
	}
	info.DNSNames = append(info.DNSNames, csr.DNSNames...)
	info.Extensions = len(csr.Extensions)
	for _, e := range csr.Extensions {
		if e.Id.Equal(oidSAN) {
			info.SANCritical = e.Critical
		}
	}
	if k, ok := csr.PublicKey.(*ecdsa.PublicKey); ok {
		info.KeyCurve = k.Curve.Params().Name
	}
	info.SignatureAlg = csr.SignatureAlgorithm.String()
	return csr, info
}

type requestEvent struct {
	Event            string   `json:"event"`
	Authorization    []string `json:"authorization"`
	ClusterID        []string `json:"clusterid"`
	ValidityDuration int64    `json:"validityDuration"`
	HasMetadata      bool     `json:"hasMetadata"`
	Impersonated     string   `json:"impersonated"`
	CSR              csrInfo  `json:"csr"`
}

func runServer() {
	descriptors := flag.Lookup("descriptors").Value.String()
	loadDescriptors(descriptors)
	token := *flagToken
	caCert := parseCert(readPEM(*flagCaCert))
	caKey := parseKey(readPEM(*flagCaKey))
	caCertPEM := string(readPEM(*flagCaCert))
	rootPEM := string(readPEM(*flagRoot))
	serving, err := tls.LoadX509KeyPair(*flagCert, *flagKey)
	if err != nil {
		fail("serving certificate: %v", err)
	}
	creds := credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{serving}, MinVersion: tls.VersionTLS12})
	server := grpc.NewServer(grpc.Creds(creds))
	handler := func(srv interface{}, ctx context.Context, dec func(interface{}) error, _ grpc.UnaryServerInterceptor) (interface{}, error) {
		req := dynamicpb.NewMessage(requestDesc)
		if err := dec(req); err != nil {
			return nil, err
		}
		md, _ := metadata.FromIncomingContext(ctx)
		ev := requestEvent{Event: "request", Authorization: md.Get("authorization"), ClusterID: md.Get("clusterid")}
		if ev.Authorization == nil {
			ev.Authorization = []string{}
		}
		if ev.ClusterID == nil {
			ev.ClusterID = []string{}
		}
		ev.ValidityDuration = req.Get(field(requestDesc, "validity_duration")).Int()
		mdField := field(requestDesc, "metadata")
		if req.Has(mdField) {
			ev.HasMetadata = true
			st := req.Get(mdField).Message()
			fields := st.Get(st.Descriptor().Fields().ByName("fields")).Map()
			v := fields.Get(protoreflect.ValueOfString("ImpersonatedIdentity").MapKey())
			if v.IsValid() {
				vm := v.Message()
				sv := vm.Descriptor().Fields().ByName("string_value")
				if vm.Has(sv) {
					ev.Impersonated = vm.Get(sv).String()
				}
			}
		}
		csr, info := inspectCSR(req.Get(field(requestDesc, "csr")).String())
		ev.CSR = info
		emit(ev)
		if len(ev.Authorization) != 1 || ev.Authorization[0] != "Bearer "+token {
			return nil, status.Error(codes.Unauthenticated, "request authenticate failure")
		}
		if *flagFailCode != 0 {
			return nil, status.Error(codes.Code(*flagFailCode), "failing as asked")
		}
		id := *flagCallerID
		if ev.Impersonated != "" {
			if !*flagAllowImpersonation {
				return nil, status.Error(codes.Unauthenticated, "request impersonation authentication failure")
			}
			id = ev.Impersonated
		}
		if *flagSignAs != "" {
			id = *flagSignAs
		}
		if csr == nil || !info.SignatureValid {
			return nil, status.Error(codes.InvalidArgument, "CSR signing error")
		}
		uri, err := url.Parse(id)
		if err != nil {
			return nil, status.Error(codes.Internal, err.Error())
		}
		ttl := time.Duration(ev.ValidityDuration) * time.Second
		if ttl <= 0 {
			ttl = 24 * time.Hour
		}
		serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
		now := time.Now()
		tmpl := &x509.Certificate{
			SerialNumber:          serial,
			NotBefore:             now.Add(-2 * time.Minute),
			NotAfter:              now.Add(ttl),
			KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
			ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
			BasicConstraintsValid: true,
			URIs:                  []*url.URL{uri},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, csr.PublicKey, caKey)
		if err != nil {
			return nil, status.Error(codes.Internal, err.Error())
		}
		leaf := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
		res := dynamicpb.NewMessage(responseDesc)
		list := res.Mutable(field(responseDesc, "cert_chain")).List()
		for _, c := range []string{leaf, caCertPEM, rootPEM} {
			list.Append(protoreflect.ValueOfString(strings.TrimRight(c, "\n") + "\n"))
		}
		return res, nil
	}
	server.RegisterService(&grpc.ServiceDesc{
		ServiceName: "istio.v1.auth.IstioCertificateService",
		HandlerType: (*interface{})(nil),
		Methods:     []grpc.MethodDesc{{MethodName: "CreateCertificate", Handler: handler}},
		Streams:     []grpc.StreamDesc{},
		Metadata:    "security/v1alpha1/ca.proto",
	}, struct{}{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail("listen: %v", err)
	}
	emit(map[string]interface{}{"event": "listening", "port": lis.Addr().(*net.TCPAddr).Port})
	if err := server.Serve(lis); err != nil {
		fail("serve: %v", err)
	}
}

type clientResult struct {
	Event     string   `json:"event"`
	Code      int      `json:"code"`
	Message   string   `json:"message"`
	Chain     []string `json:"chain"`
	LeafURIs  []string `json:"leafUris"`
	Verified  bool     `json:"verified"`
	VerifyErr string   `json:"verifyError,omitempty"`
	TTLSecs   int64    `json:"ttlSeconds"`
}

func runClient() {
	loadDescriptors(flag.Lookup("descriptors").Value.String())
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(readPEM(*flagRoot)) {
		fail("no root in %s", *flagRoot)
	}
	creds := credentials.NewTLS(&tls.Config{RootCAs: roots, ServerName: *flagServerName})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := grpc.DialContext(ctx, *flagAddr, grpc.WithTransportCredentials(creds), grpc.WithBlock())
	if err != nil {
		emit(clientResult{Event: "result", Code: int(codes.Unavailable), Message: err.Error(), Chain: []string{}, LeafURIs: []string{}})
		return
	}
	defer conn.Close()

	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	uri, _ := url.Parse(*flagCsrID)
	csrDER, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{}, URIs: []*url.URL{uri}}, key)
	if err != nil {
		fail("csr: %v", err)
	}
	req := dynamicpb.NewMessage(requestDesc)
	req.Set(field(requestDesc, "csr"), protoreflect.ValueOfString(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csrDER}))))
	req.Set(field(requestDesc, "validity_duration"), protoreflect.ValueOfInt64(*flagTTL))
	if *flagImpersonate != "" {
		st := req.Mutable(field(requestDesc, "metadata")).Message()
		fields := st.Mutable(st.Descriptor().Fields().ByName("fields")).Map()
		v := dynamicpb.NewMessage(valueDesc)
		v.Set(field(valueDesc, "string_value"), protoreflect.ValueOfString(*flagImpersonate))
		fields.Set(protoreflect.ValueOfString("ImpersonatedIdentity").MapKey(), protoreflect.ValueOfMessage(v))
	}
	pairs := []string{"clusterid", *flagCluster}
	if *flagToken != "" {
		pairs = append(pairs, "authorization", "Bearer "+*flagToken)
	}
	callCtx := metadata.NewOutgoingContext(ctx, metadata.Pairs(pairs...))
	res := dynamicpb.NewMessage(responseDesc)
	out := clientResult{Event: "result", Chain: []string{}, LeafURIs: []string{}}
	if err := conn.Invoke(callCtx, method, req, res); err != nil {
		st, _ := status.FromError(err)
		out.Code = int(st.Code())
		out.Message = st.Message()
		emit(out)
		return
	}
	list := res.Get(field(responseDesc, "cert_chain")).List()
	for i := 0; i < list.Len(); i++ {
		out.Chain = append(out.Chain, list.Get(i).String())
	}
	if len(out.Chain) > 0 {
		leaf := parseCert([]byte(out.Chain[0]))
		for _, u := range leaf.URIs {
			out.LeafURIs = append(out.LeafURIs, u.String())
		}
		out.TTLSecs = int64(leaf.NotAfter.Sub(leaf.NotBefore).Seconds())
		inter := x509.NewCertPool()
		for _, c := range out.Chain[1:] {
			inter.AppendCertsFromPEM([]byte(c))
		}
		_, verr := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
		out.Verified = verr == nil
		if verr != nil {
			out.VerifyErr = verr.Error()
		}
		if !leaf.PublicKey.(*ecdsa.PublicKey).Equal(&key.PublicKey) {
			out.Verified = false
			out.VerifyErr = "the leaf does not carry the CSR's key"
		}
	}
	emit(out)
}

var (
	flagMode               = flag.String("mode", "", "server or client")
	_                      = flag.String("descriptors", "", "FileDescriptorSet from protoc --include_imports")
	flagToken              = flag.String("token", "", "the bearer token (server: the accepted one)")
	flagCert               = flag.String("cert", "", "server: serving certificate PEM")
	flagKey                = flag.String("key", "", "server: serving key PEM")
	flagCaCert             = flag.String("ca-cert", "", "server: signing certificate PEM")
	flagCaKey              = flag.String("ca-key", "", "server: signing key PEM")
	flagRoot               = flag.String("root", "", "root certificate PEM")
	flagFailCode           = flag.Int("fail-code", 0, "server: answer every authenticated call with this status")
	flagAllowImpersonation = flag.Bool("allow-impersonation", false, "server: honour ImpersonatedIdentity")
	flagCallerID           = flag.String("caller-id", "spiffe://cluster.local/ns/istio-system/sa/ztunnel", "server: the caller's identity")
	flagSignAs             = flag.String("sign-as", "", "server: sign this identity whatever was asked")
	flagAddr               = flag.String("addr", "", "client: host:port")
	flagServerName         = flag.String("server-name", "istiod.istio-system.svc", "client: TLS server name")
	flagCluster            = flag.String("cluster", "Kubernetes", "client: clusterid")
	flagImpersonate        = flag.String("impersonate", "", "client: ImpersonatedIdentity")
	flagCsrID              = flag.String("csr-id", "spiffe://cluster.local/ns/default/sa/sleep", "client: the URI SAN of the CSR")
	flagTTL                = flag.Int64("ttl", 86400, "client: validity_duration in seconds")
)

func main() {
	flag.Parse()
	switch *flagMode {
	case "server":
		runServer()
	case "client":
		runClient()
	default:
		fail("-mode server|client")
	}
}
