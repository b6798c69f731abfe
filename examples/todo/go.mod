module github.com/activeactive/crdt/examples/todo

go 1.26

require (
	github.com/activeactive/crdt v0.0.0
	github.com/chromedp/chromedp v0.23.0
	go.etcd.io/bbolt v1.5.0
)

require (
	github.com/chromedp/cdproto v0.159.0 // indirect
	github.com/go-json-experiment/json v0.0.0-20260213210345-44df1a37e875 // indirect
	github.com/vmihailenco/msgpack/v5 v5.4.1 // indirect
	github.com/vmihailenco/tagparser/v2 v2.0.0 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
	golang.org/x/sys v0.45.0 // indirect
)

replace github.com/activeactive/crdt => ../..
