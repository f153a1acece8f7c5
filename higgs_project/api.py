from ninja import NinjaAPI

api = NinjaAPI(title="Higgs API", version="1")
