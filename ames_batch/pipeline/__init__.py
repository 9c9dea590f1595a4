from ._convert import ConvertReport, convert_files

__all__: list[str] = ["ConvertReport", "convert_files"]
