"""tenantry: make a FastAPI + SQLAlchemy application multi-tenant."""
