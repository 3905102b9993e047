// Command go-peer is an independent HBONE peer for interop tests: Go's crypto/tls plus
// golang.org/x/net/http2, the stack of istio's Go HBONE code (pkg/hbone), with SPIFFE mTLS the way
// ztunnel does it (TLS 1.3, ALPN h2, no SNI, URI SAN checks; istio/ztunnel@62d82653:src/tls/certificate.rs).
//
// It prints one JSON object per line on stdout: {"event":"listen","addr":...} once, then one line per
// CONNECT it serves (server mode) or sends (client mode), so the Node tests can assert on what crossed the
// wire.
//
//	go-peer -mode server -listen 127.0.0.1:0 -cert c.pem -key k.pem -bundle b.pem [-baggage v]
//	go-peer -mode client -listen 127.0.0.1:0 -cert c.pem -key k.pem -bundle b.pem \
//	        -via 127.0.0.1:15008 -authority 127.0.0.1:8080 -expect spiffe://td/ns/a/sa/b [-header k=v]...
package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http2"
)

type headerFlags []string

func (h *headerFlags) String() string     { return strings.Join(*h, ",") }
func (h *headerFlags) Set(v string) error { *h = append(*h, v); return nil }

var (
	mode      = flag.String("mode", "", "server or client")
	listen    = flag.String("listen", "127.0.0.1:0", "address to listen on")
	certFile  = flag.String("cert", "", "PEM certificate chain, leaf first")
	keyFile   = flag.String("key", "", "PEM private key")
	bundle    = flag.String("bundle", "", "PEM trust bundle (roots)")
	baggage   = flag.String("baggage", "", "server: baggage header of 200 answers")
	via       = flag.String("via", "", "client: HBONE server address")
	authority = flag.String("authority", "", "client: :authority of each CONNECT")
	expect    = flag.String("expect", "", "client: comma-separated SPIFFE IDs the server may present")
	headers   headerFlags

	outMu sync.Mutex
)

func emit(v map[string]interface{}) {
	b, _ := json.Marshal(v)
	outMu.Lock()
	defer outMu.Unlock()
	os.Stdout.Write(append(b, '\n'))
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "go-peer:", err)
	os.Exit(1)
}

func loadRoots(path string) *x509.CertPool {
	data, err := os.ReadFile(path)
	if err != nil {
		fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		fatal(errors.New("no certificates in the bundle"))
	}
	return pool
}

// spiffeID returns the single spiffe:// URI SAN of a leaf (SPIFFE X.509-SVID §2).
func spiffeID(cert *x509.Certificate) (string, error) {
	if len(cert.URIs) != 1 || cert.URIs[0].Scheme != "spiffe" {
		return "", fmt.Errorf("expected exactly one spiffe URI SAN, got %v", cert.URIs)
	}
	return cert.URIs[0].String(), nil
}

func trustDomain(id string) string {
	rest := strings.TrimPrefix(id, "spiffe://")
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		return rest[:i]
	}
	return rest
}

// verifyPeer validates the peer chain against the bundle for the given key usage and returns its ID.
func verifyPeer(raw [][]byte, roots *x509.CertPool, usage x509.ExtKeyUsage) (string, error) {
	if len(raw) == 0 {
		return "", errors.New("peer sent no certificate")
	}
	certs := make([]*x509.Certificate, 0, len(raw))
	for _, der := range raw {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return "", err
		}
		certs = append(certs, c)
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	if _, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
		return "", err
	}
	return spiffeID(certs[0])
}

func loadCert() (tls.Certificate, string) {
	cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
	if err != nil {
		fatal(err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		fatal(err)
	}
	id, err := spiffeID(leaf)
	if err != nil {
		fatal(err)
	}
	return cert, id
}

func main() {
	flag.Var(&headers, "header", "client: extra request header k=v (repeatable)")
	flag.Parse()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fatal(err)
	}
	emit(map[string]interface{}{"event": "listen", "addr": ln.Addr().String()})
	switch *mode {
	case "server":
		runServer(ln)
	case "client":
		runClient(ln)
	default:
		fatal(fmt.Errorf("unknown -mode %q", *mode))
	}
}

// ---- server: terminates HBONE like ztunnel's inbound (200 only after the upstream connected) ----

func runServer(ln net.Listener) {
	cert, ownID := loadCert()
	roots := loadRoots(*bundle)
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		NextProtos:   []string{"h2"},
		ClientAuth:   tls.RequireAnyClientCert,
		// ztunnel's TrustDomainVerifier: a valid chain and a SPIFFE ID in our own trust domain.
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			id, err := verifyPeer(raw, roots, x509.ExtKeyUsageClientAuth)
			if err != nil {
				return err
			}
			if trustDomain(id) != trustDomain(ownID) {
				return fmt.Errorf("client %s is not in trust domain %s", id, trustDomain(ownID))
			}
			return nil
		},
	}
	h2 := &http2.Server{MaxConcurrentStreams: 200, MaxReadFrameSize: 1 << 20}
	for {
		c, err := ln.Accept()
		if err != nil {
			fatal(err)
		}
		go func() {
			tc := tls.Server(c, cfg)
			if err := tc.Handshake(); err != nil {
				emit(map[string]interface{}{"event": "handshake-error", "error": err.Error()})
				c.Close()
				return
			}
			state := tc.ConnectionState()
			peer, _ := spiffeID(state.PeerCertificates[0])
			emit(map[string]interface{}{
				"event": "handshake", "peer": peer, "alpn": state.NegotiatedProtocol,
				"sni": state.ServerName, "version": state.Version,
			})
			h2.ServeConn(tc, &http2.ServeConnOpts{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				serveConnect(w, r, peer)
			})})
		}()
	}
}

func serveConnect(w http.ResponseWriter, r *http.Request, peer string) {
	emit(map[string]interface{}{
		"event": "request", "method": r.Method, "authority": r.Host, "peer": peer,
		"proto": r.Proto, "path": r.URL.Path, "headers": r.Header,
	})
	if r.Method != http.MethodConnect {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	up, err := net.DialTimeout("tcp", r.Host, 10*time.Second)
	if err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	defer up.Close()
	if *baggage != "" {
		w.Header().Set("baggage", *baggage)
	}
	w.WriteHeader(http.StatusOK)
	flusher := w.(http.Flusher)
	flusher.Flush()

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		// Client END_STREAM → upstream TCP half-close.
		io.Copy(up, r.Body)
		up.(*net.TCPConn).CloseWrite()
	}()
	buf := make([]byte, 64*1024)
	for {
		n, err := up.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				break
			}
			flusher.Flush()
		}
		if err != nil {
			break
		}
	}
	// An HTTP/2 handler can only end its stream by returning (golang.org/x/net/http2: a handler's return ends the stream): wait for the other direction.
	wg.Wait()
}

// ---- client: a local TCP listener that tunnels each connection through one HBONE CONNECT ----

func runClient(ln net.Listener) {
	cert, _ := loadCert()
	roots := loadRoots(*bundle)
	allowed := map[string]bool{}
	for _, id := range strings.Split(*expect, ",") {
		allowed[strings.TrimSpace(id)] = true
	}
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		NextProtos:   []string{"h2"},
		// No ServerName, so no SNI (ztunnel enable_sni = false); the chain and the URI SAN are checked
		// below instead of a DNS name, as ztunnel's IdentityVerifier does.
		InsecureSkipVerify: true,
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			id, err := verifyPeer(raw, roots, x509.ExtKeyUsageServerAuth)
			if err != nil {
				return err
			}
			if !allowed[id] {
				return fmt.Errorf("identity verification error: peer %s is not one of %s", id, *expect)
			}
			return nil
		},
	}
	tr := &http2.Transport{
		DialTLS: func(network, addr string, _ *tls.Config) (net.Conn, error) {
			c, err := net.DialTimeout(network, addr, 10*time.Second)
			if err != nil {
				return nil, err
			}
			tc := tls.Client(c, cfg)
			if err := tc.Handshake(); err != nil {
				c.Close()
				return nil, err
			}
			if p := tc.ConnectionState().NegotiatedProtocol; p != "h2" {
				c.Close()
				return nil, fmt.Errorf("ALPN %q, want h2", p)
			}
			emit(map[string]interface{}{"event": "dial", "addr": addr})
			return tc, nil
		},
		MaxReadFrameSize: 1 << 20,
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			fatal(err)
		}
		go forward(tr, c.(*net.TCPConn))
	}
}

func forward(tr *http2.Transport, conn *net.TCPConn) {
	defer conn.Close()
	pr, pw := io.Pipe()
	req, err := http.NewRequest(http.MethodConnect, "https://"+*via, pr)
	if err != nil {
		fatal(err)
	}
	// Go's h2 transport sends a plain CONNECT: :authority from Host, no :scheme or :path.
	req.Host = *authority
	for _, h := range headers {
		if k, v, ok := strings.Cut(h, "="); ok {
			req.Header.Add(k, v)
		}
	}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		emit(map[string]interface{}{"event": "error", "error": err.Error()})
		pw.CloseWithError(err)
		return
	}
	emit(map[string]interface{}{"event": "response", "status": resp.StatusCode, "baggage": resp.Header.Get("baggage")})
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		pw.CloseWithError(errors.New("refused"))
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		// TCP FIN from the app → END_STREAM.
		io.Copy(pw, conn)
		pw.Close()
	}()
	// END_STREAM from the server → TCP half-close towards the app.
	io.Copy(conn, resp.Body)
	conn.CloseWrite()
	<-done
	resp.Body.Close()
}
