package source

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// certsDirs are where a registry's own CAs and client certificates are
// looked for, in HOST[:PORT] subdirectories, as Docker and skopeo look:
// ca.crt or any *.crt is a CA; NAME.cert with NAME.key is a client
// certificate. The system's CAs (and SSL_CERT_FILE, SSL_CERT_DIR) are
// trusted too.
func certsDirs() []string {
	dirs := []string{"/etc/docker/certs.d", "/etc/containers/certs.d"}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, ".config", "containers", "certs.d"))
	}
	return dirs
}

// registryTransport is go-containerregistry's default transport, with the
// CAs and client certificates of the certs.d directories for host.
func registryTransport(host string) (http.RoundTripper, error) {
	base := remote.DefaultTransport.(*http.Transport).Clone()
	var (
		cas   *x509.CertPool
		certs []tls.Certificate
	)
	for _, dir := range certsDirs() {
		d := filepath.Join(dir, host)
		entries, err := os.ReadDir(d)
		if err != nil {
			continue
		}
		for _, e := range entries {
			path := filepath.Join(d, e.Name())
			switch {
			case strings.HasSuffix(e.Name(), ".crt"):
				pem, err := os.ReadFile(path)
				if err != nil {
					return nil, fmt.Errorf("registry %s: %w", host, err)
				}
				if cas == nil {
					if cas, err = x509.SystemCertPool(); err != nil {
						cas = x509.NewCertPool()
					}
				}
				if !cas.AppendCertsFromPEM(pem) {
					return nil, fmt.Errorf("registry %s: %s holds no PEM certificate", host, path)
				}
			case strings.HasSuffix(e.Name(), ".cert"):
				key := strings.TrimSuffix(path, ".cert") + ".key"
				c, err := tls.LoadX509KeyPair(path, key)
				if err != nil {
					return nil, fmt.Errorf("registry %s: client certificate %s: %w", host, path, err)
				}
				certs = append(certs, c)
			}
		}
	}
	if cas != nil || certs != nil {
		base.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: cas, Certificates: certs}
	}
	return base, nil
}
