package chaos

import (
	"context"
	"flag"
	"fmt"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// clusterName is the NATS cluster the suite forms on loopback.
const clusterName = "partita-chaos"

// RunNATSNode is `partita chaos nats-node`: one nats-server with JetStream
// (the nats-server module this binary is built with) as a process of its
// own, so that the suite can kill it with SIGKILL and start it again on the
// same store. It runs until SIGTERM or SIGINT.
func RunNATSNode(args []string) error {
	fs := flag.NewFlagSet("partita chaos nats-node", flag.ContinueOnError)
	name := fs.String("name", "n1", "server name")
	port := fs.Int("port", 0, "client port on 127.0.0.1")
	clusterPort := fs.Int("cluster-port", 0, "cluster port on 127.0.0.1; 0 for a single node")
	routes := fs.String("routes", "", "comma-separated nats-route://host:port of the other nodes")
	advertise := fs.String("cluster-advertise", "", "the cluster address this node gossips to the others (an unreachable one keeps them from routing to it other than by their --routes)")
	store := fs.String("store", "", "JetStream store folder")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *port == 0 || *store == "" {
		return fmt.Errorf("nats-node: --port and --store are required")
	}
	opts := &server.Options{
		ServerName: *name,
		Host:       "127.0.0.1",
		Port:       *port,
		JetStream:  true,
		StoreDir:   *store,
		MaxPayload: 8 << 20,
		NoSigs:     true,
	}
	if *clusterPort != 0 {
		opts.Cluster = server.ClusterOpts{Name: clusterName, Host: "127.0.0.1", Port: *clusterPort, Advertise: *advertise}
		opts.Routes = server.RoutesFromStr(*routes)
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return fmt.Errorf("nats-node %s: %w", *name, err)
	}
	srv.ConfigureLogger()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		return fmt.Errorf("nats-node %s: not ready within 30s", *name)
	}
	<-ctx.Done()
	srv.Shutdown()
	srv.WaitForShutdown()
	return nil
}

// routeURLs are the route URLs of a node to the others, by the addresses
// it dials them at.
func routeURLs(addrs []string) string {
	var urls []string
	for _, a := range addrs {
		urls = append(urls, "nats-route://"+a)
	}
	return strings.Join(urls, ",")
}
