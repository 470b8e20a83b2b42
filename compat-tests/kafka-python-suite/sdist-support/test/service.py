# Provided by vltava's compat-tests: kafka-python's PyPI sdist omits
# test/service.py, which test/integration/fixtures.py imports.  Only the
# ExternalService path is used when KAFKA_URI points at a running broker;
# spawning a Kafka distribution is deliberately unsupported here.  Only copied
# in when the sdist lacks the file.
import logging

__all__ = ['ExternalService', 'SpawnedService']

log = logging.getLogger(__name__)


class ExternalService:
    def __init__(self, host, port):
        log.info("Using already running service at %s:%d", host, port)
        self.host = host
        self.port = port

    def open(self):
        pass

    def close(self):
        pass

    def dump_logs(self):
        pass


class SpawnedService:
    def __init__(self, *args, **kwargs):
        raise RuntimeError("vltava compat-tests: spawning a Kafka distribution is "
                           "not supported; set KAFKA_URI to a running broker")
