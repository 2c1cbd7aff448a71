// Command registry-interop drives the official Go client (confluent-kafka-go) against a
// schema registry and a broker: it registers a schema, looks it up, checks a compatible and a
// breaking change, serializes a record with the client's Avro serde and produces it. It
// prints the schema id as JSON; tests/python/test_registry_interop_go.py then reads the record
// back with `techpotli tail`.
//
// Usage: registry-interop <registry-url> <bootstrap> <topic>
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde/avrov2"
)

// Payment is the record; its avro tags name the schema's fields.
type Payment struct {
	PaymentID   string `avro:"payment_id"`
	AmountMinor int64  `avro:"amount_minor"`
	Currency    string `avro:"currency"`
}

const schema = `{"type":"record","name":"GoInteropPayment","namespace":"com.techpotli.interop",
 "fields":[{"name":"payment_id","type":"string"},{"name":"amount_minor","type":"long"},
 {"name":"currency","type":"string"}]}`

// A new optional field: backward compatible.
const evolved = `{"type":"record","name":"GoInteropPayment","namespace":"com.techpotli.interop",
 "fields":[{"name":"payment_id","type":"string"},{"name":"amount_minor","type":"long"},
 {"name":"currency","type":"string"},{"name":"note","type":["null","string"],"default":null}]}`

// A field changing type: breaking.
const breaking = `{"type":"record","name":"GoInteropPayment","namespace":"com.techpotli.interop",
 "fields":[{"name":"payment_id","type":"long"},{"name":"amount_minor","type":"long"},
 {"name":"currency","type":"string"}]}`

func fail(what string, err error) {
	fmt.Fprintf(os.Stderr, "registry-interop: %s: %v\n", what, err)
	os.Exit(1)
}

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: registry-interop <registry-url> <bootstrap> <topic>")
		os.Exit(2)
	}
	url, bootstrap, topic := os.Args[1], os.Args[2], os.Args[3]
	subject := topic + "-value"

	client, err := schemaregistry.NewClient(schemaregistry.NewConfig(url))
	if err != nil {
		fail("registry client", err)
	}
	info := schemaregistry.SchemaInfo{Schema: schema, SchemaType: "AVRO"}
	id, err := client.Register(subject, info, false)
	if err != nil {
		fail("register", err)
	}
	found, err := client.GetID(subject, info, false)
	if err != nil || found != id {
		fail(fmt.Sprintf("lookup gave id %d, registered %d", found, id), err)
	}
	ok, err := client.TestCompatibility(subject, 1, schemaregistry.SchemaInfo{Schema: evolved, SchemaType: "AVRO"})
	if err != nil || !ok {
		fail(fmt.Sprintf("compatible change judged %v", ok), err)
	}
	ok, err = client.TestCompatibility(subject, 1, schemaregistry.SchemaInfo{Schema: breaking, SchemaType: "AVRO"})
	if err != nil || ok {
		fail(fmt.Sprintf("breaking change judged compatible=%v", ok), err)
	}

	conf := avrov2.NewSerializerConfig()
	conf.AutoRegisterSchemas = false
	conf.UseLatestVersion = true
	ser, err := avrov2.NewSerializer(client, serde.ValueSerde, conf)
	if err != nil {
		fail("serializer", err)
	}
	payload, err := ser.Serialize(topic, &Payment{PaymentID: "pay-go-1", AmountMinor: 49900, Currency: "INR"})
	if err != nil {
		fail("serialize", err)
	}

	p, err := kafka.NewProducer(&kafka.ConfigMap{"bootstrap.servers": bootstrap, "enable.idempotence": true})
	if err != nil {
		fail("producer", err)
	}
	defer p.Close()
	delivered := make(chan kafka.Event, 1)
	err = p.Produce(&kafka.Message{
		TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: kafka.PartitionAny},
		Key:            []byte("pay-go-1"),
		Value:          payload,
	}, delivered)
	if err != nil {
		fail("produce", err)
	}
	if m := (<-delivered).(*kafka.Message); m.TopicPartition.Error != nil {
		fail("delivery", m.TopicPartition.Error)
	}
	out, _ := json.Marshal(map[string]int{"schema_id": id})
	fmt.Println(string(out))
}
