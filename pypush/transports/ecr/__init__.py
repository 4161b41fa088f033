"""transports/ecr"""
