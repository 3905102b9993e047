// An independent delta xDS client for interop tests: grpc-go drives the
// /envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources stream and protobuf-go
// encodes and decodes every message, from a descriptor set protoc compiles out of the package's .proto
// files (dynamicpb: no generated code). Built offline in GOPATH mode from Debian's golang-google-grpc-dev
// and golang-google-protobuf-dev.
//
// Stdin: one JSON command per line.
//
//	{"op":"send","typeUrl":"...","node":"id","subscribe":["..."],"unsubscribe":["..."],"nonce":"...","error":"..."}
//	{"op":"close"}
//
// Stdout: one JSON event per line: {"event":"response",...} for every response (each resource decoded
// with protobuf-go as its Any type says), then {"event":"status","code":N,"details":"..."} when the stream
// ends.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"os"

	"ambientkit/testpeer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

type command struct {
	Op          string   `json:"op"`
	TypeURL     string   `json:"typeUrl"`
	Node        string   `json:"node"`
	Subscribe   []string `json:"subscribe"`
	Unsubscribe []string `json:"unsubscribe"`
	Nonce       string   `json:"nonce"`
	Error       string   `json:"error"`
}

type resource struct {
	Name    string   `json:"name"`
	Version string   `json:"version"`
	Aliases []string `json:"aliases"`
	// The decoded body's primary key: a workload uid, a service namespace/hostname, a policy namespace/name.
	Key   string `json:"key"`
	Error string `json:"error,omitempty"`
}

type event struct {
	Event     string     `json:"event"`
	TypeURL   string     `json:"typeUrl,omitempty"`
	Nonce     string     `json:"nonce,omitempty"`
	Resources []resource `json:"resources"`
	Removed   []string   `json:"removed"`
	Code      int        `json:"code"`
	Details   string     `json:"details,omitempty"`
}

func emit(e event) { testpeer.Emit(e) }

// Shared with the other Go peers (test-support/gopath/src/ambientkit/testpeer).
var fail = testpeer.Fail

func field(m protoreflect.Message, name string) protoreflect.FieldDescriptor {
	return testpeer.Field(m.Descriptor(), name)
}

func setList(m *dynamicpb.Message, name string, values []string) {
	list := m.Mutable(field(m, name)).List()
	for _, v := range values {
		list.Append(protoreflect.ValueOfString(v))
	}
}

func main() {
	addr := flag.String("addr", "", "server host:port")
	descriptors := flag.String("descriptors", "", "FileDescriptorSet from protoc --include_imports")
	flag.Parse()

	find := testpeer.Descriptors(*descriptors)
	requestDesc := find("envoy.service.discovery.v3.DeltaDiscoveryRequest")
	responseDesc := find("envoy.service.discovery.v3.DeltaDiscoveryResponse")
	bodies := map[string]protoreflect.MessageDescriptor{
		"type.googleapis.com/istio.workload.Address":       find("istio.workload.Address"),
		"type.googleapis.com/istio.security.Authorization": find("istio.security.Authorization"),
	}

	conn, err := grpc.Dial(*addr, grpc.WithInsecure())
	if err != nil {
		fail("dial: %v", err)
	}
	defer conn.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := conn.NewStream(ctx, &grpc.StreamDesc{
		StreamName:    "DeltaAggregatedResources",
		ServerStreams: true,
		ClientStreams: true,
	}, "/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources")
	if err != nil {
		fail("stream: %v", err)
	}

	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			res := dynamicpb.NewMessage(responseDesc)
			if err := stream.RecvMsg(res); err != nil {
				st, _ := status.FromError(err)
				emit(event{Event: "status", Code: int(st.Code()), Details: st.Message()})
				return
			}
			e := event{
				Event:     "response",
				TypeURL:   res.Get(field(res, "type_url")).String(),
				Nonce:     res.Get(field(res, "nonce")).String(),
				Resources: []resource{},
				Removed:   []string{},
			}
			removed := res.Get(field(res, "removed_resources")).List()
			for i := 0; i < removed.Len(); i++ {
				e.Removed = append(e.Removed, removed.Get(i).String())
			}
			list := res.Get(field(res, "resources")).List()
			for i := 0; i < list.Len(); i++ {
				r := list.Get(i).Message()
				item := resource{
					Name:    r.Get(field(r, "name")).String(),
					Version: r.Get(field(r, "version")).String(),
					Aliases: []string{},
				}
				aliases := r.Get(field(r, "aliases")).List()
				for j := 0; j < aliases.Len(); j++ {
					item.Aliases = append(item.Aliases, aliases.Get(j).String())
				}
				any := r.Get(field(r, "resource")).Message()
				desc := bodies[any.Get(field(any, "type_url")).String()]
				if desc == nil {
					item.Error = "unknown body type " + any.Get(field(any, "type_url")).String()
				} else {
					body := dynamicpb.NewMessage(desc)
					// protobuf-go validates UTF-8 in proto3 strings, as prost does in ztunnel.
					if err := proto.Unmarshal(any.Get(field(any, "value")).Bytes(), body); err != nil {
						item.Error = err.Error()
					} else {
						item.Key = keyOf(body)
					}
				}
				e.Resources = append(e.Resources, item)
			}
			emit(e)
		}
	}()

	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<20)
	for in.Scan() {
		var c command
		if err := json.Unmarshal(in.Bytes(), &c); err != nil {
			fail("bad command %q: %v", in.Text(), err)
		}
		switch c.Op {
		case "send":
			req := dynamicpb.NewMessage(requestDesc)
			req.Set(field(req, "type_url"), protoreflect.ValueOfString(c.TypeURL))
			if c.Node != "" {
				node := req.Mutable(field(req, "node")).Message()
				node.Set(field(node, "id"), protoreflect.ValueOfString(c.Node))
			}
			setList(req, "resource_names_subscribe", c.Subscribe)
			setList(req, "resource_names_unsubscribe", c.Unsubscribe)
			if c.Nonce != "" {
				req.Set(field(req, "response_nonce"), protoreflect.ValueOfString(c.Nonce))
			}
			if c.Error != "" {
				detail := req.Mutable(field(req, "error_detail")).Message()
				detail.Set(field(detail, "message"), protoreflect.ValueOfString(c.Error))
			}
			if err := stream.SendMsg(req); err != nil {
				fail("send: %v", err)
			}
		case "close":
			_ = stream.CloseSend()
			<-done
			return
		default:
			fail("unknown op %q", c.Op)
		}
	}
	cancel()
	<-done
}

// keyOf names a decoded body the way the xDS resource names it.
func keyOf(m *dynamicpb.Message) string {
	d := m.Descriptor()
	get := func(msg protoreflect.Message, name string) string {
		return msg.Get(msg.Descriptor().Fields().ByName(protoreflect.Name(name))).String()
	}
	switch d.FullName() {
	case "istio.workload.Address":
		if w := d.Fields().ByName("workload"); m.Has(w) {
			return get(m.Get(w).Message(), "uid")
		}
		if s := d.Fields().ByName("service"); m.Has(s) {
			svc := m.Get(s).Message()
			return get(svc, "namespace") + "/" + get(svc, "hostname")
		}
		return ""
	default:
		return get(m, "namespace") + "/" + get(m, "name")
	}
}
