// Java client scenarios the verifiable tools do not cover, run as a single-file
// program (`java -cp 'target/lib-<version>/*' src/ClientScenarios.java <bootstrap> <scenario>`)
// by tests/test_java_client.py. Prints "OK <scenario>" and exits 0, or throws.

import java.time.Duration;
import java.util.*;
import java.util.concurrent.ExecutionException;
import java.util.stream.Collectors;

import org.apache.kafka.clients.admin.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.*;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.serialization.*;

public class ClientScenarios {
    static String bootstrap;

    public static void main(String[] args) throws Exception {
        bootstrap = args[0];
        switch (args[1]) {
            case "consumer-assign-seek-pause" -> consumerAssignSeekPause();
            case "admin" -> admin();
            default -> throw new IllegalArgumentException("unknown scenario " + args[1]);
        }
        System.out.println("OK " + args[1]);
    }

    static void check(boolean cond, String what) {
        if (!cond) throw new AssertionError(what);
    }

    static Admin admin(Map<String, Object> extra) {
        Map<String, Object> conf = new HashMap<>(extra);
        conf.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        return Admin.create(conf);
    }

    static KafkaProducer<String, String> producer() {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        return new KafkaProducer<>(p);
    }

    static KafkaConsumer<String, String> consumer(String group) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        if (group != null) p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        return new KafkaConsumer<>(p);
    }

    /** Produces n records with timestamps base+i, keys k<i>, a header; returns base. */
    static long produce(String topic, int partition, int n) throws Exception {
        long base = System.currentTimeMillis() - 3_600_000L;
        try (KafkaProducer<String, String> p = producer()) {
            for (int i = 0; i < n; i++) {
                ProducerRecord<String, String> r = new ProducerRecord<>(topic, partition, base + i * 1000L, "k" + i, "v" + i);
                r.headers().add(new RecordHeader("h", ("x" + i).getBytes()));
                p.send(r).get();
            }
        }
        return base;
    }

    static List<ConsumerRecord<String, String>> pollN(KafkaConsumer<String, String> c, int n) {
        List<ConsumerRecord<String, String>> got = new ArrayList<>();
        long deadline = System.currentTimeMillis() + 30_000;
        while (got.size() < n && System.currentTimeMillis() < deadline) {
            for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(200))) got.add(r);
        }
        check(got.size() >= n, "polled " + got.size() + " of " + n);
        return got;
    }

    static void consumerAssignSeekPause() throws Exception {
        String topic = "java-seek-" + UUID.randomUUID();
        try (Admin a = admin(Map.of())) {
            a.createTopics(List.of(new NewTopic(topic, 2, (short) 1))).all().get();
        }
        long base = produce(topic, 0, 50);
        produce(topic, 1, 10);
        TopicPartition p0 = new TopicPartition(topic, 0), p1 = new TopicPartition(topic, 1);
        try (KafkaConsumer<String, String> c = consumer(null)) {
            c.assign(List.of(p0, p1));
            check(c.beginningOffsets(List.of(p0, p1)).equals(Map.of(p0, 0L, p1, 0L)), "beginning offsets");
            check(c.endOffsets(List.of(p0, p1)).equals(Map.of(p0, 50L, p1, 10L)), "end offsets");
            Map<TopicPartition, OffsetAndTimestamp> byTime = c.offsetsForTimes(Map.of(p0, base + 20_500L));
            check(byTime.get(p0).offset() == 21 && byTime.get(p0).timestamp() == base + 21_000L, "offsetsForTimes " + byTime);
            check(c.offsetsForTimes(Map.of(p0, base + 999_999_999L)).get(p0) == null, "offsetsForTimes past the end");
            c.seek(p0, 40);
            c.pause(List.of(p1));
            List<ConsumerRecord<String, String>> got = pollN(c, 10);
            check(got.stream().allMatch(r -> r.partition() == 0), "paused partition was fetched");
            ConsumerRecord<String, String> first = got.get(0);
            check(first.offset() == 40 && first.key().equals("k40") && first.value().equals("v40")
                    && first.timestamp() == base + 40_000L
                    && new String(first.headers().lastHeader("h").value()).equals("x40"), "record at 40: " + first);
            c.resume(List.of(p1));
            c.seekToBeginning(List.of(p1));
            List<ConsumerRecord<String, String>> rest = pollN(c, 10);
            check(rest.stream().filter(r -> r.partition() == 1).count() == 10, "resumed partition");
            c.seekToEnd(List.of(p0));
            check(c.position(p0) == 50, "position after seekToEnd");
        }
    }

    static void admin() throws Exception {
        String topic = "java-admin-" + UUID.randomUUID();
        String group = topic + "-g";
        try (Admin a = admin(Map.of())) {
            a.createTopics(List.of(new NewTopic(topic, 2, (short) 1).configs(Map.of("retention.ms", "7200000")))).all().get();
            check(a.listTopics().names().get().contains(topic), "listTopics");
            TopicDescription d = a.describeTopics(List.of(topic)).allTopicNames().get().get(topic);
            check(d.partitions().size() == 2 && d.topicId() != null, "describeTopics " + d);
            DescribeClusterResult cl = a.describeCluster();
            check(cl.nodes().get().size() == 1 && cl.clusterId().get() != null && cl.controller().get() != null, "describeCluster");
            ConfigResource res = new ConfigResource(ConfigResource.Type.TOPIC, topic);
            Config cfg = a.describeConfigs(List.of(res)).all().get().get(res);
            check(cfg.get("retention.ms").value().equals("7200000")
                    && cfg.get("retention.ms").source() == ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG, "describeConfigs");
            check(cfg.get("cleanup.policy").value().equals("delete"), "default cleanup.policy");
            a.createPartitions(Map.of(topic, NewPartitions.increaseTo(3))).all().get();
            check(a.describeTopics(List.of(topic)).allTopicNames().get().get(topic).partitions().size() == 3, "createPartitions");
            try {
                a.createTopics(List.of(new NewTopic(topic, 1, (short) 1))).all().get();
                throw new AssertionError("duplicate createTopics succeeded");
            } catch (ExecutionException e) {
                check(e.getCause() instanceof org.apache.kafka.common.errors.TopicExistsException, "duplicate: " + e.getCause());
            }
            produce(topic, 0, 5);
            try (KafkaConsumer<String, String> c = consumer(group)) {
                c.subscribe(List.of(topic));
                pollN(c, 5);
                c.commitSync();
            }
            Set<String> groups = a.listConsumerGroups().all().get().stream().map(ConsumerGroupListing::groupId).collect(Collectors.toSet());
            check(groups.contains(group), "listConsumerGroups " + groups);
            ConsumerGroupDescription gd = a.describeConsumerGroups(List.of(group)).all().get().get(group);
            check(gd.groupState() == GroupState.EMPTY, "describeConsumerGroups " + gd);
            Map<TopicPartition, OffsetAndMetadata> offs = a.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get();
            check(offs.get(new TopicPartition(topic, 0)).offset() == 5, "listConsumerGroupOffsets " + offs);
            ListOffsetsResult lo = a.listOffsets(Map.of(new TopicPartition(topic, 0), OffsetSpec.latest()));
            check(lo.all().get().get(new TopicPartition(topic, 0)).offset() == 5, "listOffsets latest");
            ListOffsetsResult mt = a.listOffsets(Map.of(new TopicPartition(topic, 0), OffsetSpec.maxTimestamp()));
            check(mt.all().get().get(new TopicPartition(topic, 0)).offset() == 4, "listOffsets maxTimestamp");
            a.deleteConsumerGroups(List.of(group)).all().get();
            a.deleteTopics(List.of(topic)).all().get();
        }
    }
}
