package natstransport_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/transport/natstransport"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// selfSigned returns a certificate for 127.0.0.1, and a pool that trusts
// it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "natstransport test"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

// The transport rides on whatever connection the host made: with a token,
// an nkey or TLS, messages flow as on a plain one (user and password:
// see TestPermissionsStopImpersonation), and a client without the
// credentials is refused by the server.
func TestAuthenticatedConnections(t *testing.T) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, err := kp.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	cert, pool := selfSigned(t)
	for _, tc := range []struct {
		name string
		opts server.Options
		with []nats.Option
	}{
		{"token", server.Options{Authorization: "s3cret"}, []nats.Option{nats.Token("s3cret")}},
		{"nkey", server.Options{Nkeys: []*server.NkeyUser{{Nkey: pub}}}, []nats.Option{nats.Nkey(pub, kp.Sign)}},
		{"tls", server.Options{TLS: true, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}},
			[]nats.Option{nats.Secure(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t, &tc.opts)
			t.Cleanup(srv.stop)
			if nc, err := nats.Connect(srv.url(), nats.NoReconnect()); err == nil {
				nc.Close()
				t.Fatal("a client without the credentials was let in")
			}
			var trs []*natstransport.Transport
			rec := newRecorder()
			for _, id := range []string{"a", "b"} {
				c := connect(t, srv.url(), tc.with...)
				t.Cleanup(c.nc.Close)
				tr, err := natstransport.New(c.nc, natstransport.Config{ID: crdt.ReplicaID(id)})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = tr.Close() })
				if err := tr.Listen(rec); err != nil {
					t.Fatal(err)
				}
				if err := c.nc.Flush(); err != nil {
					t.Fatal(err)
				}
				trs = append(trs, tr)
			}
			if err := trs[0].Send(context.Background(), "b", []byte("hello")); err != nil {
				t.Fatal(err)
			}
			if d := await(t, rec.ch, "the message"); d.from != "a" || string(d.msg) != "hello" {
				t.Errorf("got %q from %s, want hello from a", d.msg, d.from)
			}
		})
	}
}
