"""The only code that touches the OpenTelemetry SDK: conversion, redaction stage, exporters, setup."""
