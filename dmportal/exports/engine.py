def register_kind():
    pass
