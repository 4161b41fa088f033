"""transports/distribution"""
