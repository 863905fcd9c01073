"""The greenmon edge gateway: Modbus TCP and OPC UA meters to greenmon, with store-and-forward."""
