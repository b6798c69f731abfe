// Package natstransport carries the messages of a [crdt.Replica] over core
// NATS. It is its own Go module, so that the crdt module does not depend
// on the NATS client.
//
// # Usage
//
//	nc, err := nats.Connect(url, nats.UserInfo(user, password), nats.MaxReconnects(-1))
//	t, err := natstransport.New(nc, natstransport.Config{Prefix: "crdt", ID: "us-east-1"})
//	r, err := crdt.NewReplica(crdt.Config{ID: "us-east-1", Transport: t})
//	cart, err := crdt.Register(r, "cart", orset.New[string]("us-east-1"))
//	err = r.AddPeer("eu-west-1")
//	err = t.Listen(r) // inbound messages go to r.Receive
//	go r.Run(ctx, 100*time.Millisecond)
//	// ... on shutdown:
//	t.Close()
//	nc.Close()
//
// The host makes the connection with its own options: servers,
// authentication (nats.UserInfo, nats.Token, nats.Nkey, nats.UserCredentials),
// TLS (nats.Secure, nats.RootCAs, nats.ClientCert) and reconnection. The
// transport only publishes and subscribes on it.
//
// # Subjects
//
// A message from replica A to replica B goes to <prefix>.B.A; B
// subscribes to <prefix>.B.* and reads the sender from the last token. A
// broadcast from A goes once to the group subject <prefix>._all.A, to
// which every replica subscribes; a header names the replicas it is for,
// and the others drop it without decoding it. A replica ignores its own
// broadcasts. Replica IDs and the prefix's tokens must be subject tokens
// (no '.', '*', '>', whitespace), and "_all" ([GroupToken]) is reserved;
// [New] refuses others.
//
// Since the sender is part of the subject, the server's permissions can
// vouch for it: give each replica its own user, allowed to publish only
// on subjects that end with its own ID, and no replica can speak for
// another. For region us-east-1 and the prefix "crdt":
//
//	authorization {
//	  users = [
//	    {user: "us-east-1", password: "...", permissions: {
//	      publish:   ["crdt.*.us-east-1"]
//	      subscribe: ["crdt.us-east-1.*", "crdt._all.*"]
//	    }}
//	  ]
//	}
//
// (The same with nkeys or decentralized JWT accounts.) The engine then
// knows that a message handed to Receive with from set to us-east-1 came
// from us-east-1's credentials.
//
// # Delivery
//
// Core NATS delivers at most once: a message is lost if no subscriber is
// connected when it is published. The engine needs no more: it numbers
// its ops, re-sends them until acknowledged, and catches up by digest a
// replica that was away, so loss, duplication and reordering are all
// harmless. Send and Broadcast return once the message is in the
// client's buffer.
//
// While the connection is down (the server restarted, the network
// failed), Send and Broadcast drop the message and return an error
// wrapping [ErrDisconnected], rather than let it wait in the client's
// reconnect buffer: the engine counts the failure in its Stats and sends
// again at a later tick, so what leaves after reconnection is current,
// not a backlog of duplicates. The client re-subscribes by itself when it
// reconnects. A Send can block only while the client's write buffer is
// full and the socket does not drain, for at most the connection's write
// timeout (nats.FlusherTimeout; one minute by default, so set it lower).
//
// A message larger than the server's max_payload (1 MiB by default) is
// not sent: Send returns an error wrapping [ErrTooLarge], since the server
// would close the connection. The engine makes every message at most
// crdt.Config.MaxMessageBytes (1 MiB by default), catch-ups of any size
// included (they go in chunks), and at most what
// [Transport.MaxMessageBytes] says the server takes (a crdt.Limiter): a
// little less than max_payload, as the connection learned it, which
// leaves room for the headers the server counts too. So the setting need
// not match the server, and an operator may change max_payload and
// restart the servers: the replicas follow at their next tick. Regions
// whose servers differ in max_payload work too: each names its limit to
// its peers in its digests, and they send it nothing larger (see
// crdt.PeerStats.MessageLimit). A broadcast whose recipients' names take
// more room than MaxMessageBytes leaves for the header goes in several
// publishes, each naming some of them.
//
// Lower max_payload by restarting the servers, not by reloading their
// configuration: a server tells a client its max_payload when the client
// connects, and a reload tells the clients connected already nothing.
// Such a client goes on sending what the old limit took, and the server
// closes its connection at the first message over the new one; the NATS
// client does not reconnect a connection the server closed so. The
// transport then fails every send with [ErrDisconnected], which the
// engine counts (crdt.PeerStats.SendErrors) while the replicas fall
// behind: the host must make a new connection and transport (from
// nats.ClosedHandler, say). The same holds for an account's max_payload
// below the server's, which the client learns a moment after it connects.
//
// Inbound messages are handed to the Receiver on the client's delivery
// goroutines, one per subscription. If the Receiver falls behind, the
// subscriptions' pending limits (Config.MaxPending and MaxPendingBytes;
// the client's defaults are 64 MiB per subscription) bound the memory
// held, and the excess is dropped and counted in [Stats] (SlowConsumer):
// the engine sends it again.
//
// # Why not JetStream
//
// JetStream would store every message in a stream and redeliver it until
// the consumer acknowledges it. For this engine, that duplicates what it
// already does, at a cost: a write to the stream's storage (and its
// replicas) on every message, streams and consumers to provision and
// size, and retained messages that the engine has already superseded. A
// replica that was away for a day would be redelivered a day of
// retransmissions, while the engine needs only a digest exchange to
// learn what it lacks. What JetStream could add is delivery to a replica
// whose process is down while the sender's process is down as well; but
// an op is only safe once another replica acknowledged it (see the
// engine's PeerStats.Lag), whatever the bus stores. Hence core NATS.
package natstransport
