"""Local services for development and tests: Mosquitto, a Kafka-protocol broker, PostgreSQL.

Modules: ``process`` (daemon processes and pid files), ``ports``, ``mosquitto``,
``kafka_broker`` (tansu), ``postgres`` (throwaway clusters with TimescaleDB) and
``manager`` (``greenmon services up/down/status``). Import from the submodules;
this package imports nothing so that ``greenmon.local.ports`` stays cheap.
"""
