enum IndexPage {
    static let html = "<!doctype html><title>bc-serve</title>"
}
