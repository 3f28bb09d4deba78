"""The version Easel writes into infotext and reports to the API."""

VERSION = "easel-0.1"
