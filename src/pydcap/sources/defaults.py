"""Where each collateral service is by default (plain strings: the command line shows them without loading
the clients)."""

INTEL_PCS_URL = "https://api.trustedservices.intel.com"
AZURE_GLOBAL_CACHE_URL = "https://global.acccache.azure.net/sgx/certification"
DEFAULT_PCCS_URL = "https://localhost:8081/sgx/certification/v4/"
