package masking

// 200 bytes of event text without personal data, and the same length with.
var (
	benchClean = []byte("Order shipped on Tuesday from the Berlin warehouse; the customer rated delivery 4 of 5 and asked for paper-free packaging next time. Version 3.2 of the app, build 2024-03-05, session 5123 ok!")
	benchPII   = []byte("Order for alice@example.com shipped; call +1 415-555-0123 or (415) 555-0199. Card 4111 1111 1111 1111, IBAN DE89 3704 0044 0532 0130 00, from 203.0.113.7, ad 123e4567-e89b-12d3-a456-426614174000")
	benchShort = []byte("Added to cart from the summer sale page")
)
