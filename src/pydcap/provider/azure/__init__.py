"""pydcap's Azure provider: the Azure DCAP client's behaviour under the ``AZDCAP_*`` environment (``AzureConfig``),
over pydcap's sources and verifying cache; ``cloud`` tells an Azure VM (which makes Azure's cache the bundled
provider's default)."""

from pydcap.provider.azure.config import AzureConfig
from pydcap.provider.azure.provider import AzureProvider

__all__ = ["AzureConfig", "AzureProvider"]
