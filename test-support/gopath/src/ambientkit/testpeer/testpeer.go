// Package testpeer holds what the independent Go peers of the interop tests share: JSON-lines output, the
// exit on a setup failure, and message types read from a descriptor set protoc compiled (dynamicpb, so no
// generated code of ours is on the peer's side of the wire). Built in GOPATH mode with Debian's
// golang-google-protobuf-dev; test-support/go.ts puts this directory on GOPATH.
package testpeer

import (
	"encoding/json"
	"fmt"
	"io/ioutil"
	"os"
	"sync"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
)

// Fail prints the message on stderr and exits 2: a peer that cannot set up has nothing to report.
func Fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(2)
}

var out = struct {
	sync.Mutex
	enc *json.Encoder
}{enc: json.NewEncoder(os.Stdout)}

// Emit prints v as one JSON line on stdout; safe from several goroutines.
func Emit(v interface{}) {
	out.Lock()
	defer out.Unlock()
	if err := out.enc.Encode(v); err != nil {
		os.Exit(3)
	}
}

// Descriptors reads a FileDescriptorSet (protoc --include_imports) and returns a lookup of its message
// types by full name; a missing one is a Fail.
func Descriptors(path string) func(name string) protoreflect.MessageDescriptor {
	raw, err := ioutil.ReadFile(path)
	if err != nil {
		Fail("read descriptors: %v", err)
	}
	var set descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(raw, &set); err != nil {
		Fail("parse descriptors: %v", err)
	}
	files, err := protodesc.NewFiles(&set)
	if err != nil {
		Fail("build registry: %v", err)
	}
	return func(name string) protoreflect.MessageDescriptor {
		d, err := files.FindDescriptorByName(protoreflect.FullName(name))
		if err != nil {
			Fail("find %s: %v", name, err)
		}
		return d.(protoreflect.MessageDescriptor)
	}
}

// Field is the field `name` of a message type; a missing one is a Fail.
func Field(d protoreflect.MessageDescriptor, name string) protoreflect.FieldDescriptor {
	f := d.Fields().ByName(protoreflect.Name(name))
	if f == nil {
		Fail("no field %s in %s", name, d.FullName())
	}
	return f
}
